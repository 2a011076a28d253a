using System.Net;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using ConsulLock.Aop.Tests.Engine;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Semaphores;

/// <summary>Tests in this collection share a dev agent of their own, so they run beside the other collections.</summary>
[CollectionDefinition(Name)]
public sealed class SemaphoreCollection : ICollectionFixture<ConsulAgentFixture>
{
    public const string Name = "semaphores";
}

/// <summary>
/// Semaphores (issue 22, contract section 10) against a real agent: the layout in Consul, the limit, loss, conflicts,
/// and that nothing is left behind.
/// </summary>
[Collection(SemaphoreCollection.Name)]
public sealed class SemaphoreTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    /// <summary>The Go client's <c>api.SemaphoreFlagValue</c>, written here rather than taken from our code, which it checks.</summary>
    internal const ulong GoSemaphoreFlags = 0xe0f69a2baa414de0;
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Permits_are_written_in_the_Go_clients_layout_one_contender_and_session_each()
    {
        var provider = NewProvider();
        await using var first = await provider.AcquireSemaphoreAsync("exports", 3);
        await using var second = await provider.AcquireSemaphoreAsync("exports", 3);

        Assert.Equal(Prefix + "exports", first.Key);
        Assert.NotEqual(first.SessionId, second.SessionId);
        Assert.True(second.FencingToken > first.FencingToken);
        var state = await ReadKeyAsync(Prefix + "exports/.lock");
        Assert.NotNull(state);
        Assert.Equal(GoSemaphoreFlags, state.Value.GetProperty("Flags").GetUInt64());
        using var document = JsonDocument.Parse(Convert.FromBase64String(state.Value.GetProperty("Value").GetString()!));
        Assert.Equal(3, document.RootElement.GetProperty("Limit").GetInt32());
        var holders = document.RootElement.GetProperty("Holders").EnumerateObject().Select(p => p.Name).Order().ToArray();
        Assert.Equal(new[] { first.SessionId, second.SessionId }.Order(), holders);
        Assert.Equal(second.FencingToken, state.Value.GetProperty("ModifyIndex").GetUInt64());
        foreach (var permit in new[] { first, second })
        {
            var contender = await ReadKeyAsync(Prefix + "exports/" + permit.SessionId);
            Assert.NotNull(contender);
            Assert.Equal(GoSemaphoreFlags, contender.Value.GetProperty("Flags").GetUInt64());
            Assert.Equal(permit.SessionId, contender.Value.GetProperty("Session").GetString());
        }

        await first.DisposeAsync();
        await second.DisposeAsync();
        Assert.Equal(0, await KeysUnderAsync("exports/"));
        // A permit's session ends in the background once its release is done (SessionPool.Return), as a lock's does.
        await UntilAsync(
            async () => !(await SessionIdsAsync()).Intersect([first.SessionId, second.SessionId]).Any(),
            "a permit's session outlived its release");
    }

    [Fact]
    public async Task At_most_the_limit_hold_and_a_release_lets_one_waiter_in()
    {
        var providers = Enumerable.Range(0, 3).Select(_ => NewProvider()).ToArray();
        var a = await providers[0].AcquireSemaphoreAsync("two", 2);
        var b = await providers[1].AcquireSemaphoreAsync("two", 2);

        Assert.Null(await providers[2].TryAcquireSemaphoreAsync("two", 2, TimeSpan.Zero));
        Assert.Null(await providers[2].TryAcquireSemaphoreAsync("two", 2, TimeSpan.FromMilliseconds(300)));
        // "Waited first" is the order the contender keys reach Consul, not the order of the calls: the second waiter
        // starts once the first one's key is there (two holders' keys and .lock, the tries' keys gone, then one more).
        await UntilAsync(async () => await KeysUnderAsync("two/") == 3, "the tries left a contender key behind");
        var waiting = providers[2].AcquireSemaphoreAsync("two", 2).AsTask();
        await UntilAsync(async () => await KeysUnderAsync("two/") == 4, "the first waiter did not join");
        var second = providers[0].AcquireSemaphoreAsync("two", 2).AsTask();
        // Both wait on Consul; a bounded look for a wrong grant.
        await Task.WhenAny(waiting, second, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.False(waiting.IsCompleted || second.IsCompleted, "a third permit was granted while two were held");

        await a.DisposeAsync();
        var winner = await Task.WhenAny(waiting, second).WaitAsync(s_generous);
        await Task.WhenAny(waiting, second, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.False(waiting.IsCompleted && second.IsCompleted, "one release let two waiters in");
        // First come, first served among our waiters: the one that waited first.
        Assert.Same(waiting, winner);

        await (await winner).DisposeAsync();
        await (await second.WaitAsync(s_generous)).DisposeAsync();
        await b.DisposeAsync();
        await UntilAsync(async () => await KeysUnderAsync("two/") == 0, "a contender key or .lock was left after every permit was released");
    }

    [Fact]
    public async Task A_limit_that_differs_from_the_one_in_lock_is_a_conflict_naming_both()
    {
        var provider = NewProvider();
        await using var held = await provider.AcquireSemaphoreAsync("limits", 3);

        var error = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await NewProvider().AcquireSemaphoreAsync("limits", 2));

        output.WriteLine(error.Message);
        Assert.Contains("limit 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("limit 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(Prefix + "limits", error.Key);
        await held.DisposeAsync();
        await UntilAsync(async () => await KeysUnderAsync("limits/") == 0, "the refused acquire left its contender key behind");
    }

    [Fact]
    public async Task A_prefix_used_as_a_lock_is_a_conflict_both_ways()
    {
        var provider = NewProvider();
        await using (await provider.AcquireAsync("mixed/.lock"))
        {
            var error = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await NewProvider().AcquireSemaphoreAsync("mixed", 2));
            output.WriteLine(error.Message);
            Assert.Contains("used as a lock", error.Message, StringComparison.Ordinal);
            Assert.Contains("limit 2", error.Message, StringComparison.Ordinal);
        }

        await UntilAsync(async () => await KeysUnderAsync("mixed/") == 0, "a key was left after the lock and the refused semaphore");
        await using var permit = await provider.AcquireSemaphoreAsync("mixed", 2);
        var lockError = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await NewProvider().AcquireAsync("mixed/.lock"));
        Assert.Contains("semaphore", lockError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_holders_session_destroyed_fires_its_token_and_a_waiter_takes_the_permit()
    {
        var holder = NewProvider();
        var waiter = NewProvider();
        await using var held = await holder.AcquireSemaphoreAsync("destroyed", 1);
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        held.LostToken.Register(() => lost.TrySetResult());
        var waiting = waiter.AcquireSemaphoreAsync("destroyed", 1).AsTask();
        await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.False(waiting.IsCompleted);

        await PutAsync("/v1/session/destroy/" + held.SessionId);

        await lost.Task.WaitAsync(s_generous);
        await using var next = await waiting.WaitAsync(s_generous);
        Assert.True(next.FencingToken > held.FencingToken);
        Assert.False(next.LostToken.IsCancellationRequested);
        await held.DisposeAsync();
        var state = await ReadKeyAsync(Prefix + "destroyed/.lock");
        Assert.NotNull(state);
        Assert.DoesNotContain(held.SessionId, Encoding.UTF8.GetString(Convert.FromBase64String(state.Value.GetProperty("Value").GetString()!)), StringComparison.Ordinal);
        Assert.False(next.LostToken.IsCancellationRequested, "the new holder lost its permit when the old one's was cleaned up");
    }

    [Fact]
    public async Task Dropping_a_holder_from_lock_or_deleting_its_contender_key_fires_its_token()
    {
        var provider = NewProvider();
        var dropped = await provider.AcquireSemaphoreAsync("taken", 3);
        var deleted = await provider.AcquireSemaphoreAsync("taken", 3);
        var kept = await provider.AcquireSemaphoreAsync("taken", 3);

        // An operator rewrites .lock without the first holder (as a Go client pruning it would), and deletes the
        // second's contender key.
        var state = (await ReadKeyAsync(Prefix + "taken/.lock"))!.Value;
        var rewritten = JsonSerializer.Serialize(new { Limit = 3, Holders = new Dictionary<string, bool> { [deleted.SessionId] = true, [kept.SessionId] = true } });
        var (status, _) = await ConsulHttp.SendAsync(
            HttpMethod.Put, Agent.Address, $"/v1/kv/{Prefix}taken/.lock?cas={state.GetProperty("ModifyIndex").GetUInt64()}&flags={GoSemaphoreFlags}", rewritten);
        Assert.Equal(HttpStatusCode.OK, status);
        await dropped.LostToken.WhenCancelled().WaitAsync(s_generous);
        Assert.False(kept.LostToken.IsCancellationRequested);

        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, $"/v1/kv/{Prefix}taken/{deleted.SessionId}");
        await deleted.LostToken.WhenCancelled().WaitAsync(s_generous);
        Assert.False(kept.LostToken.IsCancellationRequested);

        await dropped.DisposeAsync();
        await deleted.DisposeAsync();
        await kept.DisposeAsync();
        await UntilAsync(async () => await KeysUnderAsync("taken/") == 0, "a key was left after the lost permits were disposed");
    }

    [Fact]
    public async Task After_releases_cancellations_and_timeouts_no_contender_key_or_holder_entry_is_left()
    {
        var holder = NewProvider();
        var waiters = Enumerable.Range(0, 4).Select(_ => NewProvider()).ToArray();
        var held = new[] { await holder.AcquireSemaphoreAsync("gave-up", 2), await holder.AcquireSemaphoreAsync("gave-up", 2) };

        await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            var waiter = waiters[i % waiters.Length];
            if (i % 2 == 0)
            {
                Assert.Null(await waiter.TryAcquireSemaphoreAsync("gave-up", 2, TimeSpan.FromMilliseconds(20 + (i * 7))));
            }
            else
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(i * 7));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiter.AcquireSemaphoreAsync("gave-up", 2, cancellationToken: cancel.Token));
            }
        }));

        // Only the two holders are left in Consul (their contender keys and .lock).
        await UntilAsync(async () => await KeysUnderAsync("gave-up/") == 3, "a waiter that gave up left its contender key");
        var state = Encoding.UTF8.GetString(Convert.FromBase64String((await ReadKeyAsync(Prefix + "gave-up/.lock"))!.Value.GetProperty("Value").GetString()!));
        using (var document = JsonDocument.Parse(state))
        {
            Assert.Equal(held.Select(h => h.SessionId).Order(), document.RootElement.GetProperty("Holders").EnumerateObject().Select(p => p.Name).Order());
        }

        foreach (var handle in held)
        {
            await handle.DisposeAsync();
        }

        await UntilAsync(async () => await KeysUnderAsync("gave-up/") == 0, "a key was left after every permit was released");
        await UntilAsync(async () => (await SessionIdsAsync()).Length == 0 || !(await SessionIdsAsync()).Intersect(held.Select(h => h.SessionId)).Any(), "a permit's session outlived its release");
        output.WriteLine("40 waiters gave up (20 timed out, 20 cancelled); 2 holders released: nothing left");
    }

    [Fact]
    public async Task Bad_input_fails_before_any_request()
    {
        var provider = NewProvider(address: new Uri("http://127.0.0.1:1"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireSemaphoreAsync("bad", 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.TryAcquireSemaphoreAsync("bad", 1, TimeSpan.FromSeconds(-2)));
        await Assert.ThrowsAsync<ArgumentException>(async () => await provider.AcquireSemaphoreAsync("bad//prefix", 1));
        await Assert.ThrowsAsync<ArgumentException>(async () => await provider.AcquireSemaphoreAsync("bad", 1, new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(1) }));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await provider.AcquireSemaphoreAsync(null!, 1));
    }

    [Fact]
    public async Task Disposing_the_provider_ends_waits_fires_held_tokens_and_leaves_nothing()
    {
        var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero });
        var held = await provider.AcquireSemaphoreAsync("disposed", 1);
        var waiting = provider.AcquireSemaphoreAsync("disposed", 1).AsTask();
        await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromMilliseconds(300)));

        await provider.DisposeAsync();

        Assert.True(held.LostToken.IsCancellationRequested);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(s_generous));
        await UntilAsync(async () => await KeysUnderAsync("disposed/") == 0, "disposal left a semaphore key behind");
    }
}

internal static class CancellationTokenExtensions
{
    public static Task WhenCancelled(this CancellationToken token)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => done.TrySetResult());
        return done.Task;
    }
}
