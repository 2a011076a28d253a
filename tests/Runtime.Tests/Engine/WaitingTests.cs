using System.Diagnostics;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class WaitingTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task A_blocked_waiter_gets_the_lock_right_after_the_holder_releases_not_after_a_retry_sleep()
    {
        var holder = NewProvider();
        var waiter = NewProvider();
        var handoffs = new List<double>();
        for (var round = 0; round < 15; round++)
        {
            var held = await holder.AcquireAsync("handoff");
            var waiting = waiter.AcquireAsync("handoff").AsTask();
            await UntilWatchedAsync(waiter, "handoff");
            Assert.False(waiting.IsCompleted, "the waiter must not get a held lock");

            await held.DisposeAsync();
            var released = Stopwatch.GetTimestamp();
            await using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
            handoffs.Add(Stopwatch.GetElapsedTime(released).TotalMilliseconds);
            Assert.True(got.FencingToken > held.FencingToken);
        }

        handoffs.Sort();
        var median = handoffs[handoffs.Count / 2];
        output.WriteLine($"handoff after release: median {median:0.00} ms, min {handoffs[0]:0.00} ms, max {handoffs[^1]:0.00} ms over {handoffs.Count}");
        // Consul's Go client sleeps 5 s before retrying a contended lock; a bound far below that proves we do not.
        Assert.True(median < 1000, $"median handoff {median} ms");
    }

    [Fact]
    public async Task A_woken_waiter_locks_at_the_index_the_watch_showed_without_reading_the_key_again()
    {
        var holder = NewProvider();
        var requests = new CountingHandler();
        var options = new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero };
        await using var waiter = new ConsulLockProvider(options, loggerFactory: null, requests);
        var held = await holder.AcquireAsync("woken");
        var waiting = waiter.AcquireAsync("woken").AsTask();
        await UntilWatchedAsync(waiter, "woken");
        var before = requests.Log.Count;

        await held.DisposeAsync();
        await using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        // After the release: the watch's answer (a blocking query on the key) and one transaction, no plain read.
        var after = requests.Log.Skip(before).ToList();
        Assert.Equal(1, after.Count(r => r.StartsWith("PUT /v1/txn", StringComparison.Ordinal)));
        Assert.DoesNotContain(after, r => r.StartsWith("GET /v1/kv/", StringComparison.Ordinal) && !r.Contains("index=", StringComparison.Ordinal));
        Assert.True(got.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task TryAcquire_returns_null_when_the_timeout_passes_and_zero_tries_once()
    {
        var holder = NewProvider();
        var other = NewProvider();
        await using var held = await holder.AcquireAsync("busy");

        var started = Stopwatch.GetTimestamp();
        Assert.Null(await other.TryAcquireAsync("busy", TimeSpan.FromMilliseconds(300)));
        // It waited (a timer may fire a hair early on the monotonic clock, hence not the full 300 ms).
        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(250), "it waited for the timeout");

        Assert.Null(await other.TryAcquireAsync("busy", TimeSpan.Zero));
        await using var free = await other.TryAcquireAsync("free", TimeSpan.Zero);
        Assert.NotNull(free);
    }

    [Fact]
    public async Task A_zero_try_right_after_a_skipped_one_gets_the_key_once_its_holder_released_it()
    {
        // A scheduled job's instance tries each firing with "0s" and skips when the key is held. The skipped try's
        // place in the key's queue is left in the background; the next try of this provider must not find the key's
        // gate closed by that clean-up and give up on a free key.
        var holder = NewProvider();
        var tries = NewProvider();
        for (var round = 0; round < 12; round++)
        {
            var key = $"skip-then-try/{round}";
            var held = await holder.AcquireAsync(key);
            Assert.Null(await tries.TryAcquireAsync(key, TimeSpan.Zero));
            await held.DisposeAsync();

            await using var got = await tries.TryAcquireAsync(key, TimeSpan.Zero);
            Assert.True(got is not null, $"round {round}: a free key was not granted to a zero try after a skipped one");
        }
    }

    [Fact]
    public async Task In_process_waiters_time_out_too()
    {
        var provider = NewProvider();
        await using var held = await provider.AcquireAsync("local");

        // An unrelated flow of the same provider (an incoming request, say): contention, not reentrancy. A task
        // started from this flow would inherit its held keys, so suppress the flow to start a fresh one.
        Task<IConsulLockHandle?> attempt;
        using (ExecutionContext.SuppressFlow())
        {
            attempt = Task.Run(async () => await provider.TryAcquireAsync("local", TimeSpan.FromMilliseconds(100)));
        }

        Assert.Null(await attempt);
    }

    [Fact]
    public async Task A_cancelled_wait_ends_with_OperationCanceledException_and_leaves_no_session_or_key_behind()
    {
        var holder = NewProvider();
        // A waiter holds a place in the key's queue with its session; once it gives up, the session idles and ends.
        var waiter = NewProvider(o => o.SessionIdleTimeout = TimeSpan.Zero);
        var held = await holder.AcquireAsync("cancelled");
        using var cancel = new CancellationTokenSource();

        var waiting = waiter.AcquireAsync("cancelled", cancellationToken: cancel.Token).AsTask();
        await UntilWatchedAsync(waiter, "cancelled");
        Assert.Single(await QueueEntriesAsync("cancelled"));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await UntilAsync(async () => waiter.SessionIds.Count == 0 && (await QueueEntriesAsync("cancelled")).Length == 0, "the waiter's session or queue entry stayed");
        await held.DisposeAsync();
        await holder.DisposeAsync();
        Assert.DoesNotContain(held.SessionId, await SessionIdsAsync());

        var waiterOnly = NewProvider();
        using var early = new CancellationTokenSource();
        await early.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiterOnly.AcquireAsync("never", cancellationToken: early.Token));
        Assert.Null(await ReadKeyAsync(Prefix + "never"));
        Assert.Empty(waiterOnly.SessionIds);
    }

    [Fact]
    public async Task Asking_again_for_a_held_key_in_the_same_flow_fails_at_once()
    {
        var provider = NewProvider();
        await using var held = await provider.AcquireAsync("mine");

        var error = await Assert.ThrowsAsync<ConsulLockReentrancyException>(async () => await provider.TryAcquireAsync("mine", TimeSpan.FromSeconds(30)));

        Assert.Equal(Prefix + "mine", error.Key);
        await held.DisposeAsync();
        await using var again = await provider.AcquireAsync("mine");
        Assert.True(again.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task A_waiter_respects_lock_delay_after_the_holder_session_is_invalidated()
    {
        var holder = NewProvider(o => o.LockDelay = TimeSpan.FromSeconds(2));
        var waiter = NewProvider();
        var held = await holder.AcquireAsync("delayed");

        var waiting = waiter.AcquireAsync("delayed").AsTask();
        var destroyed = Stopwatch.GetTimestamp();
        await PutAsync("/v1/session/destroy/" + held.SessionId);
        await using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        var after = Stopwatch.GetElapsedTime(destroyed);
        output.WriteLine($"granted {after.TotalMilliseconds:0} ms after the holder's session (lock-delay 2 s) was destroyed");
        Assert.True(after >= TimeSpan.FromSeconds(1.9), $"granted after {after}, inside the lock-delay");
        Assert.True(held.LostToken.IsCancellationRequested);
    }
}
