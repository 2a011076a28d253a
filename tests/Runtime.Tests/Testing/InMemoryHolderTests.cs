using System.Diagnostics;
using ConsulLock.Aop.Testing;
using Microsoft.Extensions.Time.Testing;

namespace ConsulLock.Aop.Tests.Testing;

/// <summary>The in-memory provider answers "who holds it" as the real one does, so code that shows holders can be unit tested.</summary>
public sealed class InMemoryHolderTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_holder_names_the_instance_the_handle_the_grant_time_the_trace_and_the_waiting_callers()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));
        await using var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = "locks", InstanceName = "unit-test" }, clock);
        Assert.Null(await provider.GetHolderAsync("job"));

        using var request = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        var handle = await provider.AcquireAsync("job");
        request.Stop();
        clock.Advance(TimeSpan.FromMinutes(1));
        var waiters = new[] { WaitInOtherFlow(provider), WaitInOtherFlow(provider) };

        var holder = await provider.GetHolderAsync("job");

        Assert.Equal(
            new ConsulLockHolder("locks/job", "unit-test", handle.SessionId, Environment.MachineName, new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero), handle.FencingToken, request.Id, 2),
            holder);

        await handle.DisposeAsync();
        var granted = await Task.WhenAny(waiters).Unwrap().WaitAsync(s_generous);
        Assert.Equal(1, (await provider.GetHolderAsync("job"))!.Waiters);
        await granted.DisposeAsync();
        foreach (var waiter in await Task.WhenAll(waiters).WaitAsync(s_generous))
        {
            await waiter.DisposeAsync();
        }

        Assert.Null(await provider.GetHolderAsync("job"));
    }

    private static Task<IConsulLockHandle> WaitInOtherFlow(InMemoryConsulLockProvider provider)
    {
        // Another caller: this flow holds the key, and locks are not reentrant.
        using (ConsulLocking.SeparateFlow())
        {
            return provider.AcquireAsync("job").AsTask();
        }
    }

    [Fact]
    public async Task The_watch_reports_every_grant_and_release_in_order_and_ends_with_the_provider()
    {
        var provider = new InMemoryConsulLockProvider();
        var seen = new List<string?>();
        // Subscribed at the call: what happens from here on is reported, even before the enumeration starts.
        var changes = provider.WatchHolderAsync("key");
        var watching = Task.Run(async () =>
        {
            try
            {
                await foreach (var holder in changes)
                {
                    lock (seen)
                    {
                        seen.Add(holder?.SessionId);
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                return true;
            }

            return false;
        });

        var sessions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await using var handle = await provider.AcquireAsync("key");
            sessions.Add(handle.SessionId);
        }

        await provider.AcquireAsync("other");
        await provider.DisposeAsync();

        Assert.True(await watching.WaitAsync(s_generous), "the watch did not end with ObjectDisposedException");
        Assert.Equal([null, sessions[0], null, sessions[1], null, sessions[2], null], seen);
    }

    [Fact]
    public async Task A_cancelled_watch_ends_and_a_bad_key_fails_at_the_call()
    {
        await using var provider = new InMemoryConsulLockProvider();
        using var stop = new CancellationTokenSource();
        var changes = provider.WatchHolderAsync("key", stop.Token).GetAsyncEnumerator();
        Assert.True(await changes.MoveNextAsync());
        var next = changes.MoveNextAsync().AsTask();
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(s_generous));
        await changes.DisposeAsync();

        Assert.Throws<ArgumentException>(() => provider.WatchHolderAsync("a//b"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await provider.GetHolderAsync("/x"));
    }
}
