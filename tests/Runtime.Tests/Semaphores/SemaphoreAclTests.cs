using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Semaphores;

/// <summary>Semaphores against an agent that enforces ACLs (default deny), under the README's least-privilege policy.</summary>
public sealed class SemaphoreAclTests : IAsyncLifetime
{
    private ConsulAgent _agent = null!;

    public async Task InitializeAsync() => _agent = await ConsulAgent.StartWithAclAsync();

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Fact]
    public async Task Under_the_READMEs_policy_permits_are_granted_waited_for_lost_and_released_leaving_nothing()
    {
        // The README's policy, unchanged: a semaphore needs no more than a lock does.
        var token = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "write" }
            session_prefix "" { policy = "write" }
            """);
        var options = new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = "locks/", LockDelay = TimeSpan.Zero };
        await using var provider = new ConsulLockProvider(options);
        await using var other = new ConsulLockProvider(options.Clone());

        var first = await provider.AcquireSemaphoreAsync("exports", 1);
        Assert.Equal("locks/exports", first.Key);
        Assert.Null(await other.TryAcquireSemaphoreAsync("exports", 1, TimeSpan.FromMilliseconds(200)));
        var waiting = other.AcquireSemaphoreAsync("exports", 1).AsTask();
        await first.DisposeAsync();
        var second = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        // Loss by the session's end is seen under the policy too (the monitor reads the session).
        var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Put, _agent.Address, "/v1/session/destroy/" + second.SessionId, token: _agent.MasterToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        var lost = new TaskCompletionSource();
        second.LostToken.Register(() => lost.TrySetResult());
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await second.DisposeAsync();

        var (_, keys) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent.Address, "/v1/kv/locks/exports/?keys", token: _agent.MasterToken);
        Assert.True(string.IsNullOrWhiteSpace(keys) || keys.Trim() == "[]", "keys left: " + keys);
    }

    [Fact]
    public async Task A_token_without_key_write_fails_clearly_and_leaves_no_session()
    {
        var token = await _agent.CreateTokenAsync("""
            key_prefix "" { policy = "read" }
            session_prefix "" { policy = "write" }
            """);
        await using (var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = token, LockDelay = TimeSpan.Zero }))
        {
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireSemaphoreAsync("acl/exports", 2, cancellationToken: guard.Token));
            Assert.Contains("acl/exports", error.Message, StringComparison.Ordinal);
            Assert.Contains("Permission denied", error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(token, error.ToString(), StringComparison.Ordinal);
        }

        var (_, sessions) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent.Address, "/v1/session/list", token: _agent.MasterToken);
        Assert.Equal("[]", sessions.Trim());
    }
}
