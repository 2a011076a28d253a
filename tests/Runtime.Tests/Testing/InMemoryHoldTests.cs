using ConsulLock.Aop.CompilerServices;
using ConsulLock.Aop.Testing;
using Microsoft.Extensions.Time.Testing;

namespace ConsulLock.Aop.Tests.Testing;

/// <summary>
/// MinHold and MaxHold in the in-memory provider, on a fake clock: they must behave as the engine's (see
/// Engine/HoldTests) where a test can tell, and take no real time.
/// </summary>
public sealed class InMemoryHoldTests
{
    // Only a bound on real time for things that happen at once, so a regression fails instead of hanging the run.
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(1);

    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public async Task A_key_released_before_its_minimum_hold_stays_held_until_the_clock_passes_it_then_a_waiter_gets_it()
    {
        var minHold = TimeSpan.FromMinutes(10);
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/min", new ConsulLockRequest { MinHold = minHold });
        _clock.Advance(TimeSpan.FromMinutes(1));

        await handle.DisposeAsync();

        Assert.True(provider.IsHeld("jobs/min"));
        Assert.Equal(["jobs/min"], provider.HeldKeys);
        Assert.Null(await InAnotherFlow(() => provider.TryAcquireAsync("jobs/min", TimeSpan.Zero)));
        var waiting = InAnotherFlow(() => provider.AcquireAsync("jobs/min"));

        _clock.Advance(minHold - TimeSpan.FromMinutes(1) - s_tick);
        Assert.True(provider.IsHeld("jobs/min"));
        Assert.False(waiting.IsCompleted, "a waiter got the key before grant + MinHold");

        _clock.Advance(s_tick);
        await using var next = await waiting.WaitAsync(s_generous);
        Assert.True(next.FencingToken > handle.FencingToken);
        Assert.False(handle.LostToken.IsCancellationRequested, "a hold is not a loss");
    }

    [Fact]
    public async Task The_holders_own_flow_waits_for_the_minimum_hold_too_and_timeouts_run_on_the_same_clock()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/same-flow", new ConsulLockRequest { MinHold = TimeSpan.FromMinutes(5) });
        await handle.DisposeAsync();

        // Released: asking again is contention, not reentrancy. A timeout shorter than the hold ends when the clock says.
        var tooShort = provider.TryAcquireAsync("jobs/same-flow", TimeSpan.FromMinutes(1)).AsTask();
        Assert.False(tooShort.IsCompleted);
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await tooShort.WaitAsync(s_generous));

        var longEnough = provider.TryAcquireAsync("jobs/same-flow", TimeSpan.FromMinutes(10)).AsTask();
        _clock.Advance(TimeSpan.FromMinutes(4));
        await using var again = await longEnough.WaitAsync(s_generous);
        Assert.NotNull(again);
    }

    [Fact]
    public async Task A_key_released_after_its_minimum_hold_is_free_at_once()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/late", new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(30) });
        _clock.Advance(TimeSpan.FromSeconds(30));

        await handle.DisposeAsync();

        Assert.False(provider.IsHeld("jobs/late"));
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task Lose_frees_a_key_kept_for_its_minimum_hold_as_destroying_the_hold_session_would()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/kept", new ConsulLockRequest { MinHold = TimeSpan.FromMinutes(10) });
        await handle.DisposeAsync();

        Assert.True(provider.Lose("jobs/kept"));

        Assert.False(provider.IsHeld("jobs/kept"));
        Assert.False(handle.LostToken.IsCancellationRequested, "a loss after the holder let go is not reported");
        await using var next = await InAnotherFlow(() => provider.TryAcquireAsync("jobs/kept", TimeSpan.Zero));
        Assert.NotNull(next);

        // The old hold's end, when the clock reaches it, must not free the new holder's key.
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.True(provider.IsHeld("jobs/kept"));
    }

    [Fact]
    public async Task At_its_hold_limit_the_lost_token_fires_and_the_key_is_freed_whatever_the_holder_does()
    {
        var maxHold = TimeSpan.FromHours(1);
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/max", new ConsulLockRequest { MinHold = TimeSpan.FromMinutes(10), MaxHold = maxHold });
        var waiting = InAnotherFlow(() => provider.AcquireAsync("jobs/max"));

        _clock.Advance(maxHold - s_tick);
        Assert.False(handle.LostToken.IsCancellationRequested, "the hold limit fired early");
        Assert.True(provider.IsHeld("jobs/max"));

        // The holder ignores its token (a hung job): the key is freed all the same.
        _clock.Advance(s_tick);
        Assert.True(handle.LostToken.IsCancellationRequested);
        await using var next = await waiting.WaitAsync(s_generous);
        Assert.True(next.FencingToken > handle.FencingToken);

        // The hung holder's own release, when it comes at last, does not touch the next holder's lock.
        await handle.DisposeAsync();
        Assert.True(provider.IsHeld("jobs/max"));
        Assert.False(next.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task A_generated_methods_body_past_its_hold_limit_ends_in_ConsulLockLostException_that_says_so()
    {
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = "app" }, _clock);
        var settings = new LockedMethodSettings(new ConsulLockRequest { MaxHold = TimeSpan.FromMinutes(30) }, waitTimeout: null, LockTimeoutBehavior.Throw);
        var bodyStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = LockedMethodRunner.RunAsync(provider, "jobs/runner-max", settings, async Task (context) =>
        {
            bodyStarted.SetResult();
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }, CancellationToken.None);
        await bodyStarted.Task.WaitAsync(s_generous);

        _clock.Advance(TimeSpan.FromMinutes(30));

        var error = await Assert.ThrowsAsync<ConsulLockLostException>(() => running.WaitAsync(s_generous));
        Assert.True(error.HoldLimitReached);
        Assert.Equal("app/jobs/runner-max", error.Key);
        Assert.Equal("the hold limit was reached (MaxHold 1800s after the grant)", error.Reason);
        Assert.Contains("hold limit", error.Message, StringComparison.Ordinal);
        Assert.False(provider.IsHeld("app/jobs/runner-max"));
    }

    [Fact]
    public async Task A_generated_methods_body_whose_lock_the_test_makes_lost_hears_why_and_not_that_a_limit_was_reached()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var settings = new LockedMethodSettings(new ConsulLockRequest { MaxHold = TimeSpan.FromMinutes(30) }, waitTimeout: null, LockTimeoutBehavior.Throw);
        var bodyStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = LockedMethodRunner.RunAsync(provider, "jobs/runner-lost", settings, async Task (context) =>
        {
            bodyStarted.SetResult();
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }, CancellationToken.None);
        await bodyStarted.Task.WaitAsync(s_generous);

        Assert.True(provider.Lose("jobs/runner-lost"));

        var error = await Assert.ThrowsAsync<ConsulLockLostException>(() => running.WaitAsync(s_generous));
        Assert.False(error.HoldLimitReached);
        Assert.Equal("made lost by the test", error.Reason);

        // The limit's timer is gone with the lock: nothing fires later.
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task A_holder_that_lets_go_before_its_hold_limit_is_not_told_of_it_later()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/done", new ConsulLockRequest { MaxHold = TimeSpan.FromMinutes(5) });
        _clock.Advance(TimeSpan.FromMinutes(1));
        await handle.DisposeAsync();
        await using var next = await InAnotherFlow(() => provider.TryAcquireAsync("jobs/done", TimeSpan.Zero));

        _clock.Advance(TimeSpan.FromMinutes(10));

        Assert.False(handle.LostToken.IsCancellationRequested);
        Assert.NotNull(next);
        Assert.True(provider.IsHeld("jobs/done"));
    }

    [Fact]
    public async Task Disposing_the_provider_during_a_minimum_hold_makes_the_holder_lost_ends_waits_and_leaves_the_hold_until_its_end()
    {
        var minHold = TimeSpan.FromMinutes(10);
        var provider = new InMemoryConsulLockProvider(_clock);
        var running = await provider.AcquireAsync("jobs/running", new ConsulLockRequest { MinHold = minHold });
        var released = await provider.AcquireAsync("jobs/released", new ConsulLockRequest { MinHold = minHold });
        await released.DisposeAsync();
        var waiting = InAnotherFlow(() => provider.AcquireAsync("jobs/released"));

        await provider.DisposeAsync();

        Assert.True(running.LostToken.IsCancellationRequested);
        Assert.False(released.LostToken.IsCancellationRequested);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(s_generous));

        // As in Consul, where the hold lives in a session of its own: both keys stay held until grant + MinHold.
        Assert.Equal(["jobs/released", "jobs/running"], provider.HeldKeys.Order(StringComparer.Ordinal));
        await running.DisposeAsync();
        Assert.True(provider.IsHeld("jobs/running"));
        _clock.Advance(minHold);
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task Disposing_the_provider_after_a_minimum_hold_frees_the_key_at_once()
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var handle = await provider.AcquireAsync("jobs/over", new ConsulLockRequest { MinHold = TimeSpan.FromMinutes(1) });
        _clock.Advance(TimeSpan.FromMinutes(2));

        await provider.DisposeAsync();

        Assert.True(handle.LostToken.IsCancellationRequested);
        Assert.Empty(provider.HeldKeys);
    }

    [Theory]
    [InlineData(-1, null, "MinHold")]
    [InlineData(24 * 3600 + 1, null, "MinHold")]
    [InlineData(0, 0.5, "MaxHold")]
    [InlineData(0, 86401.0, "MaxHold")]
    [InlineData(10, 5.0, "MinHold")]
    public async Task Bad_hold_limits_throw_as_the_real_provider_throws(double minHoldSeconds, double? maxHoldSeconds, string named)
    {
        var provider = new InMemoryConsulLockProvider(_clock);
        var request = new ConsulLockRequest
        {
            MinHold = TimeSpan.FromSeconds(minHoldSeconds),
            MaxHold = maxHoldSeconds is { } max ? TimeSpan.FromSeconds(max) : null,
        };

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireAsync("jobs/bad", request));
        Assert.Equal("ConsulLockRequest." + named, error.ParamName);
        Assert.Empty(provider.HeldKeys);

        // Nothing of the refused acquire is left behind: the same flow may lock the key.
        await using var handle = await provider.TryAcquireAsync("jobs/bad", TimeSpan.Zero);
        Assert.NotNull(handle);
    }

    [Fact]
    public void A_time_provider_is_required()
    {
        Assert.Throws<ArgumentNullException>(() => new InMemoryConsulLockProvider(new ConsulLockOptions(), null!));
    }

    /// <summary>Starts <paramref name="acquire"/> in a fresh async flow, which does not inherit this flow's held keys.</summary>
    private static Task<T> InAnotherFlow<T>(Func<ValueTask<T>> acquire)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(async () => await acquire());
        }
    }
}
