using ConsulLock.Aop.Testing;

namespace ConsulLock.Aop.Tests.Leadership;

/// <summary>
/// <see cref="IConsulLockProvider.LeadAsync"/> on the in-memory provider: the campaign's rules (resign on cancel, on
/// return and on a throw; campaign again after a loss) without Consul. The same recipe runs on Consul's provider
/// (ConsulLeaderElectionTests) and across processes (Samples.Tests).
/// </summary>
public sealed class InMemoryLeaderElectionTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    private static InMemoryConsulLockProvider NewProvider() => new(new ConsulLockOptions { LockDelay = TimeSpan.Zero });

    [Fact]
    public async Task The_caller_cancelling_resigns_at_once_and_a_standby_leads_with_a_higher_token()
    {
        var provider = NewProvider();
        var history = new TermHistory();
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var a = Task.Run(() => provider.LeadAsync("leaders/job", history.Body("a"), cancellationToken: stopA.Token));
        var first = await history.NextStartAsync();
        var b = Task.Run(() => provider.LeadAsync("leaders/job", history.Body("b"), cancellationToken: stopB.Token));

        await stopA.CancelAsync();
        await a.WaitAsync(s_generous); // completes, does not throw
        var second = await history.NextStartAsync();

        Assert.Equal(("a", "b"), (first.Instance, second.Instance));
        Assert.True(second.Token > first.Token);
        await stopB.CancelAsync();
        await b.WaitAsync(s_generous);
        history.AssertDisjointAndIncreasing();
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task A_lost_term_ends_its_token_and_the_campaign_leads_again_with_a_higher_token()
    {
        var provider = NewProvider();
        var history = new TermHistory();
        using var stop = new CancellationTokenSource();
        var campaign = Task.Run(() => provider.LeadAsync("leaders/lost", history.Body("a"), cancellationToken: stop.Token));
        var first = await history.NextStartAsync();

        Assert.True(provider.Lose("leaders/lost"));
        var second = await history.NextStartAsync();

        Assert.True(second.Token > first.Token);
        Assert.False(campaign.IsCompleted);
        await stop.CancelAsync();
        await campaign.WaitAsync(s_generous);
        history.AssertDisjointAndIncreasing();
        Assert.Equal(2, history.Ended.Count);
    }

    [Fact]
    public async Task The_body_returning_resigns_and_ends_the_campaign()
    {
        var provider = NewProvider();
        ulong seen = 0;

        await provider.LeadAsync("leaders/once", (term, _) =>
        {
            seen = term.FencingToken;
            Assert.True(provider.IsHeld("leaders/once"));
            return Task.CompletedTask;
        }).WaitAsync(s_generous);

        Assert.NotEqual(0UL, seen);
        Assert.False(provider.IsHeld("leaders/once"));
    }

    [Fact]
    public async Task The_body_throwing_resigns_and_the_exception_reaches_the_caller()
    {
        var provider = NewProvider();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            provider.LeadAsync("leaders/throws", (_, _) => throw new InvalidOperationException("the term's work failed")).WaitAsync(s_generous));

        Assert.Equal("the term's work failed", error.Message);
        Assert.False(provider.IsHeld("leaders/throws"));
    }

    [Fact]
    public async Task Cancelling_a_standby_ends_its_campaign_without_an_exception_and_without_a_term()
    {
        var provider = NewProvider();
        await using var held = await provider.AcquireAsync("leaders/busy");
        using var stop = new CancellationTokenSource();
        var ran = false;
        var standby = Task.Run(() => provider.LeadAsync("leaders/busy", (_, _) => { ran = true; return Task.CompletedTask; }, cancellationToken: stop.Token));

        await stop.CancelAsync();
        await standby.WaitAsync(s_generous);

        Assert.False(ran);
    }

    [Fact]
    public void A_bad_key_or_a_missing_body_fails_before_any_campaign()
    {
        var provider = NewProvider();
        // Thrown by the call itself, not by the task it would return.
        Assert.Throws<ArgumentException>(() => { _ = provider.LeadAsync("/leaders//x", (_, _) => Task.CompletedTask); });
        Assert.Throws<ArgumentNullException>(() => { _ = provider.LeadAsync("leaders/x", null!); });
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task The_pause_after_a_loss_is_at_most_the_lock_delay_on_the_providers_clock()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { LockDelay = TimeSpan.FromSeconds(15) }, clock);
        var history = new TermHistory();
        using var stop = new CancellationTokenSource();
        var campaign = Task.Run(() => provider.LeadAsync("leaders/paced", history.Body("a"), cancellationToken: stop.Token));
        await history.NextStartAsync();

        provider.Lose("leaders/paced");
        await history.NextEndAsync();
        var again = history.NextStartAsync();
        // No real time passes: the campaign waits on the fake clock, and one lock-delay is always enough.
        while (!again.IsCompleted)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(again, Task.Delay(20));
            Assert.True(clock.GetUtcNow() - clock.Start <= TimeSpan.FromSeconds(16), "the campaign paused longer than the lock-delay");
        }

        await stop.CancelAsync();
        await campaign.WaitAsync(s_generous);
    }
}
