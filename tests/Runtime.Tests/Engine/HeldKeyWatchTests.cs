using ConsulLock.Aop.Engine;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// A held key is watched a moment after the grant (5 ms by default), so that short holds cost Consul no extra read,
/// and the watch starts at the grant's index, so nothing is missed meanwhile. (Joining a watch of the same key that
/// still runs is an opportunistic saving, racing with that watch's own end; it is not asserted.)
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class HeldKeyWatchTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Short_holds_cost_two_requests_per_cycle_and_no_read()
    {
        var requests = new CountingHandler();
        var options = new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, HeldKeyWatchDelay = TimeSpan.FromMinutes(10) };
        await using var provider = new ConsulLockProvider(options, loggerFactory: null, requests);
        // The first cycle reads the key and creates the session.
        await (await provider.AcquireAsync("short")).DisposeAsync();
        var (before, readsBefore) = (requests.Requests, requests.Reads);

        for (var i = 0; i < 20; i++)
        {
            await (await provider.AcquireAsync("short")).DisposeAsync();
        }

        // Per cycle: one transaction to lock (its check uses the index the last release returned), one to unlock.
        Assert.Equal(40, requests.Requests - before);
        Assert.Equal(0, requests.Reads - readsBefore);
    }

    [Fact]
    public async Task A_change_made_before_the_watch_starts_is_still_reported()
    {
        var provider = NewProvider(o => o.HeldKeyWatchDelay = TimeSpan.FromSeconds(1));
        await using var handle = await provider.AcquireAsync("early");
        var lost = LostAsync(handle);

        // Deleted well before the key's watch starts; the watch starts at the grant's index, so it sees the delete.
        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + handle.Key);

        Assert.Equal("the key was deleted", await lost.WaitAsync(s_generous));
    }

    [Fact]
    public async Task A_watch_costs_the_same_whatever_else_is_in_the_folder()
    {
        // Keys beside the watched one change; a watch of a single key is not woken by them (a folder watch was).
        var holder = NewProvider();
        var requests = new CountingHandler();
        var options = new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero };
        await using var waiter = new ConsulLockProvider(options, loggerFactory: null, requests);
        await using var busy = await holder.AcquireAsync("crowd/target");
        using var stop = new CancellationTokenSource();
        var waiting = waiter.AcquireAsync("crowd/target", cancellationToken: stop.Token).AsTask();
        await UntilWatchedAsync(waiter, "crowd/target");
        var before = requests.Requests;

        for (var i = 0; i < 50; i++)
        {
            await PutAsync($"/v1/kv/{Prefix}crowd/other-{i}", "x");
        }

        Assert.Equal(0, requests.Requests - before);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    private static Task<string?> LostAsync(IConsulLockHandle handle)
    {
        var lost = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => lost.TrySetResult(((LockHandle)handle).LostReason));
        return lost.Task;
    }
}
