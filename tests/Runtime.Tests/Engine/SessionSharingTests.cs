using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class SessionSharingTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task A_thousand_held_keys_share_a_bounded_number_of_sessions_stay_renewed_for_three_TTLs_and_disposal_leaves_none()
    {
        var ttl = TimeSpan.FromSeconds(10);
        var provider = NewProvider(o => o.SessionTtl = ttl);
        var handles = new List<IConsulLockHandle>();
        for (var batch = 0; batch < 10; batch++)
        {
            handles.AddRange(await Task.WhenAll(Enumerable.Range(batch * 100, 100).Select(i => provider.AcquireAsync($"many/{i}").AsTask())));
        }

        var sessions = provider.SessionIds;
        output.WriteLine($"1,000 held keys use {sessions.Count} session(s)");
        Assert.Single(sessions);
        Assert.Equal(1000, handles.Select(h => h.Key).Distinct().Count());

        // Three TTLs: without renewals Consul would invalidate the session (after up to 2 TTLs) and every key would go.
        var anyLost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registrations = handles.Select(h => h.LostToken.Register(() => anyLost.TrySetResult())).ToList();
        var ended = await Task.WhenAny(anyLost.Task, Task.Delay(ttl * 3));
        Assert.NotSame(anyLost.Task, ended);
        var sample = await ReadKeyAsync(handles[^1].Key);
        Assert.Equal(sessions.Single(), sample!.Value.GetProperty("Session").GetString());

        await provider.DisposeAsync();

        Assert.True(handles.All(h => h.LostToken.IsCancellationRequested), "disposal ends the session, so every held lock is lost");
        Assert.DoesNotContain(sessions.Single(), await SessionIdsAsync());
        // Disposal releases the keys as their handles would have (deleted), before it ends the session.
        Assert.Equal(0, await KeysUnderAsync("many/"));
        registrations.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task Locks_with_different_settings_get_different_sessions_and_an_idle_session_is_destroyed()
    {
        var provider = NewProvider(o => o.SessionIdleTimeout = TimeSpan.FromMilliseconds(200));
        string[] used;
        await using (var a = await provider.AcquireAsync("settings/a"))
        await using (var b = await provider.AcquireAsync("settings/b", new ConsulLockRequest { SessionTtl = TimeSpan.FromSeconds(30) }))
        await using (var c = await provider.AcquireAsync("settings/c"))
        {
            Assert.NotEqual(a.SessionId, b.SessionId);
            Assert.Equal(a.SessionId, c.SessionId);
            Assert.Equal(2, provider.SessionIds.Count);
            used = [a.SessionId, b.SessionId];
        }

        // The idle timer has no observable event; poll Consul's view. The provider forgets a session before its
        // destroy request is answered, so its own view empties first.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var remaining = await SessionIdsAsync();
        while (remaining.Intersect(used).Any() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            remaining = await SessionIdsAsync();
        }

        Assert.DoesNotContain(used[0], remaining);
        Assert.DoesNotContain(used[1], remaining);
        Assert.Empty(provider.SessionIds);
    }

    [Fact]
    public async Task A_busy_loop_of_locks_reuses_one_session_and_leaves_no_bookkeeping_per_release()
    {
        var provider = NewProvider();
        string? session = null;
        for (var i = 0; i < 300; i++)
        {
            await using var handle = await provider.AcquireAsync("loop/" + (i % 3));
            session ??= handle.SessionId;
            Assert.Equal(session, handle.SessionId);
        }

        // Each release used to park a 2-second idle delay in a list that only a session's end pruned.
        Assert.InRange(provider.Engine.Sessions.TrackedEndings, 0, 1);
        Assert.Equal([session!], provider.SessionIds);
    }

    [Fact]
    public async Task A_session_of_its_own_is_shared_with_nobody_and_ends_when_returned_while_the_shared_one_stays()
    {
        var provider = NewProvider(o => o.SessionIdleTimeout = TimeSpan.FromMinutes(5));
        var settings = Aop.Engine.SessionSettings.From(null, new ConsulLockOptions());
        var shared = await provider.Engine.Sessions.RentAsync(settings, CancellationToken.None);
        var own = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => provider.Engine.Sessions.RentOwnAsync(settings, CancellationToken.None).AsTask()));

        // Equal settings, yet four sessions: three of their own and the shared one.
        Assert.Equal(4, own.Select(s => s.Id).Append(shared.Id).Distinct().Count());
        var inConsul = await SessionIdsAsync();
        Assert.All(own, s => Assert.Contains(s.Id, inConsul));

        foreach (var session in own)
        {
            provider.Engine.Sessions.Return(session);
        }

        provider.Engine.Sessions.Return(shared);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (own.Any(s => !s.IsGone) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        // Returned, each one of its own was destroyed at once (no event to await: polled); the shared one waits for its
        // idle timeout.
        inConsul = await SessionIdsAsync();
        Assert.All(own, s => Assert.DoesNotContain(s.Id, inConsul));
        Assert.Contains(shared.Id, inConsul);
        await provider.DisposeAsync();
        Assert.DoesNotContain(shared.Id, await SessionIdsAsync());
    }
}
