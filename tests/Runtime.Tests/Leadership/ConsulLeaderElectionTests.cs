using ConsulLock.Aop.HealthChecks;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ConsulLock.Aop.Tests.Leadership;

/// <summary>
/// <see cref="ConsulLockProvider.LeadAsync"/> against a real agent, one provider (one session) per instance: a
/// destroyed session ends the term and the campaign goes on; the health check tells leading from standing by and from
/// a campaign Consul refuses.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class ConsulLeaderElectionTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_leaders_session_destroyed_ends_its_term_another_leads_and_the_old_one_leads_again_when_the_other_stops()
    {
        var request = new ConsulLockRequest { LockDelay = TimeSpan.FromSeconds(1) };
        var history = new TermHistory();
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var a = NewProvider();
        var b = NewProvider();
        var campaignA = Task.Run(() => a.LeadAsync("leaders/destroyed", history.Body("a"), request, stopA.Token));
        var first = await history.NextStartAsync();
        Assert.Equal("a", first.Instance);
        var campaignB = Task.Run(() => b.LeadAsync("leaders/destroyed", history.Body("b"), request, stopB.Token));
        await UntilWatchedAsync(b, "leaders/destroyed");
        var sessionA = Assert.Single(a.SessionIds);

        await PutAsync("/v1/session/destroy/" + sessionA);
        var ended = await history.NextEndAsync();
        var second = await history.NextStartAsync();

        Assert.Equal(("a", "b"), (ended.Instance, second.Instance));
        Assert.False(campaignA.IsCompleted, "the old leader stopped campaigning");
        await stopB.CancelAsync();
        await campaignB.WaitAsync(s_generous);
        var third = await history.NextStartAsync();
        Assert.Equal("a", third.Instance);
        await stopA.CancelAsync();
        await campaignA.WaitAsync(s_generous);
        history.AssertDisjointAndIncreasing();
        await UntilNothingLeftAsync("leaders/destroyed");
    }

    [Fact]
    public async Task The_health_check_reports_leading_standing_by_and_a_campaign_Consul_refuses()
    {
        // A key that holds other data: Consul answers, but no campaign for it can lead until an operator clears it.
        await PutAsync("/v1/kv/" + Prefix + "leaders/health", "not a lock");
        var leader = NewProvider(o => o.InstanceName = "the-leader");
        var standby = NewProvider(o => o.InstanceName = "a-standby");
        var history = new TermHistory();
        using var stop = new CancellationTokenSource();
        var leading = Task.Run(() => leader.LeadAsync("leaders/health", history.Body("leader"), cancellationToken: stop.Token));

        var refused = await UntilStatusAsync(leader, HealthStatus.Unhealthy);
        Assert.Contains("leader campaign for " + Prefix + "leaders/health", refused.Description, StringComparison.Ordinal);
        Assert.StartsWith("unable to campaign", (string)refused.Data["campaign:" + Prefix + "leaders/health"], StringComparison.Ordinal);

        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + Prefix + "leaders/health");
        var term = await history.NextStartAsync();
        var standingBy = Task.Run(() => standby.LeadAsync("leaders/health", history.Body("standby"), cancellationToken: stop.Token));
        await UntilWatchedAsync(standby, "leaders/health");

        var ofLeader = await CheckAsync(leader);
        var ofStandby = await CheckAsync(standby);
        Assert.Equal(HealthStatus.Healthy, ofLeader.Status);
        Assert.Equal($"leading (fencing token {term.Token})", ofLeader.Data["campaign:" + Prefix + "leaders/health"]);
        Assert.Contains("Leading " + Prefix + "leaders/health", ofLeader.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, ofStandby.Status);
        Assert.Contains("Standing by for " + Prefix + "leaders/health: the-leader", ofStandby.Description, StringComparison.Ordinal);
        Assert.Equal("standing by (the-leader leads)", ofStandby.Data["campaign:" + Prefix + "leaders/health"]);

        await stop.CancelAsync();
        await Task.WhenAll(leading, standingBy).WaitAsync(s_generous);
        Assert.DoesNotContain(((await CheckAsync(leader)).Data).Keys, k => k.StartsWith("campaign:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_campaign_Consul_refuses_goes_on_paced_never_in_a_hot_loop()
    {
        await PutAsync("/v1/kv/" + Prefix + "leaders/refused", "not a lock");
        var requests = new CountingHandler();
        await using var provider = new ConsulLockProvider(
            new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, Token = null }, loggerFactory: null, requests);
        using var stop = new CancellationTokenSource();
        var campaign = provider.LeadAsync("leaders/refused", (_, _) => Task.CompletedTask, cancellationToken: stop.Token);

        // Refusals for 3 s: the back-off (100 ms doubling to 5 s) allows about six tries, a hot loop thousands.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var sent = requests.Requests;
        Assert.False(campaign.IsCompleted, "a refused campaign ended");
        Assert.InRange(sent, 2, 40);

        await stop.CancelAsync();
        await campaign.WaitAsync(s_generous);
    }

    [Fact]
    public async Task Cancelling_at_any_moment_of_a_campaign_or_a_term_ends_it_cleanly_and_leaves_the_key_free()
    {
        var provider = NewProvider();
        var random = new Random(21);
        var terms = 0;
        for (var i = 0; i < 30; i++)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 40)));
            await provider.LeadAsync("leaders/cancelled", async (_, whileLeader) =>
            {
                Interlocked.Increment(ref terms);
                await Task.Delay(random.Next(0, 20), whileLeader);
            }, cancellationToken: stop.Token).WaitAsync(s_generous);
        }

        Assert.InRange(terms, 1, 30);
        await using var next = await provider.TryAcquireAsync("leaders/cancelled", TimeSpan.FromSeconds(5));
        Assert.NotNull(next);
    }

    private static Task<HealthCheckResult> CheckAsync(ConsulLockProvider provider) =>
        new ConsulLockHealthCheck(provider).CheckHealthAsync(new HealthCheckContext());

    private static async Task<HealthCheckResult> UntilStatusAsync(ConsulLockProvider provider, HealthStatus status)
    {
        using var timeout = new CancellationTokenSource(s_generous);
        while (true)
        {
            var result = await CheckAsync(provider);
            if (result.Status == status)
            {
                return result;
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
