using System.Globalization;
using ConsulLock.Aop.Engine;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ConsulLock.Aop.HealthChecks;

/// <summary>
/// Reports whether a <see cref="ConsulLockProvider"/> can do its job: whether it reaches Consul and Consul names a
/// cluster leader, and whether its sessions renew. Register it with
/// <c>services.AddHealthChecks().AddConsulLock()</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Unhealthy</b> (or the registration's failure status): Consul does not answer within the timeout, answers
/// with an error, or names no leader; or a session has had no renewal acknowledged for its whole TTL (its locks are
/// being reported lost).</item>
/// <item><b>Degraded</b>: a session has had no renewal acknowledged for more than half its TTL plus one retry
/// interval (one second, at most a tenth of the TTL). Renewals are due at TTL/2, so one has failed or hangs; the
/// locks are still held, and are reported lost if this lasts for the whole TTL.</item>
/// <item><b>Healthy</b> otherwise, also when the provider holds no session.</item>
/// </list>
/// A leader campaign (<see cref="ConsulLockProvider.LeadAsync"/>, <c>[ConsulLeader]</c>) is reported too: its data entry
/// <c>campaign:&lt;key&gt;</c> says <c>leading (fencing token N)</c>, <c>standing by (X leads)</c> (one read of the key
/// per standing-by campaign) or <c>unable to campaign: ...</c>;
/// a campaign whose last attempt Consul refused (an ACL that does not allow the key, a key that holds other data)
/// makes the check unhealthy with Consul's answer, although Consul itself answers.
/// The check sends one request (<c>GET /v1/status/leader</c>) and reads the sessions' state from memory. Its data
/// holds the address, the number of sessions and the longest time since a renewal; never the ACL token.
/// </remarks>
public sealed class ConsulLockHealthCheck : IHealthCheck
{
    /// <summary>How long the check waits for Consul by default.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly ConsulLockProvider _provider;
    private readonly TimeSpan _timeout;

    /// <summary>Creates a check of <paramref name="provider"/>.</summary>
    /// <param name="provider">The provider to check.</param>
    /// <param name="timeout">How long to wait for Consul's answer; <see cref="DefaultTimeout"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    public ConsulLockHealthCheck(ConsulLockProvider provider, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (timeout is { } value && value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), value, "The timeout must be positive.");
        }

        _provider = provider;
        _timeout = timeout ?? DefaultTimeout;
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        var address = _provider.Client.Address;
        var sessions = _provider.Engine.Sessions.Health();
        var longest = sessions.Count == 0 ? TimeSpan.Zero : sessions.Max(s => s.SinceLastRenewal);
        var data = new Dictionary<string, object>
        {
            ["address"] = address.ToString(),
            ["sessions"] = sessions.Count,
            ["longestSinceRenewalSeconds"] = Math.Round(longest.TotalSeconds, 3),
        };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            if (!await _provider.Client.PingAsync(timeout.Token).ConfigureAwait(false))
            {
                return new HealthCheckResult(failure, $"Consul at {address} answers but names no cluster leader: no lock can be taken.", data: data);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(failure, $"Consul at {address} did not answer within {_timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s.", data: data);
        }
        catch (ConsulLockException ex)
        {
            return new HealthCheckResult(failure, ex.Message, ex, data);
        }
        catch (ObjectDisposedException ex)
        {
            return new HealthCheckResult(failure, "The lock provider has been disposed.", ex, data);
        }

        var campaigns = _provider.Campaigns.Snapshot();
        var leaders = new List<string>();
        foreach (var campaign in campaigns)
        {
            var described = Describe(campaign);
            if (campaign.Standing == CampaignStanding.StandingBy)
            {
                // Who leads instead: one read per standing-by campaign, within the check's timeout.
                var leader = await LeaderOfAsync(campaign.Key, timeout.Token).ConfigureAwait(false);
                described += leader is null ? " (nobody leads)" : $" ({leader} leads)";
                leaders.Add($"{campaign.Key}: {leader ?? "nobody"}");
            }

            data["campaign:" + campaign.Key] = described;
        }

        if (campaigns.FirstOrDefault(c => c.Standing == CampaignStanding.Failing) is { } failing)
        {
            return new HealthCheckResult(failure, $"The leader campaign for {failing.Key} cannot reach or use Consul: {failing.Failure}", data: data);
        }

        if (sessions.FirstOrDefault(s => s.SinceLastRenewal >= s.Ttl) is { SessionId: not null } expired)
        {
            return new HealthCheckResult(failure, Describe(expired, "its locks are being reported lost"), data: data);
        }

        if (sessions.FirstOrDefault(s => s.SinceLastRenewal > DegradedAfter(s.Ttl)) is { SessionId: not null } late)
        {
            return HealthCheckResult.Degraded(Describe(late, "a renewal due at TTL/2 has failed or hangs; the locks are still held"), data: data);
        }

        var leading = campaigns.Where(c => c.Standing == CampaignStanding.Leading).Select(c => c.Key).ToList();
        var terms = (leading.Count > 0 ? $" Leading {string.Join(", ", leading)}." : "") + (leaders.Count > 0 ? $" Standing by for {string.Join(", ", leaders)}." : "");
        return HealthCheckResult.Healthy($"Consul at {address} answers and names a leader; {sessions.Count} session(s) renewing.{terms}", data);
    }

    /// <summary>Half the TTL (when a renewal is due) plus the renewer's retry interval.</summary>
    internal static TimeSpan DegradedAfter(TimeSpan ttl) => ttl / 2 + TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, ttl.Ticks / 10));

    /// <summary>The instance that holds <paramref name="fullKey"/>, or null; "unknown" when the read fails (the check reports Consul's state already).</summary>
    private async Task<string?> LeaderOfAsync(string fullKey, CancellationToken cancellationToken)
    {
        try
        {
            return (await _provider.Engine.Holders.GetAsync(fullKey, cancellationToken).ConfigureAwait(false))?.InstanceName;
        }
        catch (Exception ex) when (ex is ConsulLockException or OperationCanceledException)
        {
            return "unknown";
        }
    }

    private static string Describe(CampaignSnapshot campaign) => campaign.Standing switch
    {
        CampaignStanding.Leading => string.Create(CultureInfo.InvariantCulture, $"leading (fencing token {campaign.FencingToken})"),
        CampaignStanding.StandingBy => "standing by",
        _ => "unable to campaign: " + campaign.Failure,
    };

    private static string Describe(SessionHealth session, string consequence) => string.Create(
        CultureInfo.InvariantCulture,
        $"Session {session.SessionId} has had no renewal acknowledged for {session.SinceLastRenewal.TotalSeconds:0.0} s (TTL {session.Ttl.TotalSeconds:0.#} s): {consequence}.");
}
