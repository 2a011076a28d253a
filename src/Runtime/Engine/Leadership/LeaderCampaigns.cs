namespace ConsulLock.Aop.Engine;

/// <summary>Where a campaign stands, as the health check reports it.</summary>
internal enum CampaignStanding
{
    /// <summary>Waiting for the key: another instance leads, or nobody yet.</summary>
    StandingBy,

    /// <summary>This process holds the key and runs a term.</summary>
    Leading,

    /// <summary>The last attempt to campaign failed (Consul unreachable or refusing); trying again.</summary>
    Failing,
}

/// <summary>The campaigns a provider runs now, for the health check.</summary>
internal sealed class LeaderCampaigns
{
    private readonly List<CampaignState> _running = [];

    public CampaignState Start(string key)
    {
        var state = new CampaignState(key, this);
        lock (_running)
        {
            _running.Add(state);
        }

        return state;
    }

    public IReadOnlyList<CampaignSnapshot> Snapshot()
    {
        lock (_running)
        {
            return [.. _running.Select(c => c.Snapshot())];
        }
    }

    internal void End(CampaignState state)
    {
        lock (_running)
        {
            _running.Remove(state);
        }
    }
}

/// <summary>One campaign's standing, written by the campaign and read by the health check.</summary>
internal sealed record CampaignSnapshot(string Key, CampaignStanding Standing, ulong FencingToken, string? Failure);

/// <summary>One running campaign's standing.</summary>
internal sealed class CampaignState(string key, LeaderCampaigns? owner = null) : IDisposable
{
    private CampaignSnapshot _now = new(key, CampaignStanding.StandingBy, 0, null);

    public CampaignSnapshot Snapshot() => Volatile.Read(ref _now);

    /// <summary>Campaigning (again): waiting for the key. A failed campaign's next try fails within a round trip.</summary>
    public void StandingBy() => Volatile.Write(ref _now, _now with { Standing = CampaignStanding.StandingBy });

    public void Leading(ulong fencingToken) => Volatile.Write(ref _now, _now with { Standing = CampaignStanding.Leading, FencingToken = fencingToken, Failure = null });

    public void Failed(Exception failure) => Volatile.Write(ref _now, _now with { Standing = CampaignStanding.Failing, Failure = failure.Message });

    public void Dispose() => owner?.End(this);
}
