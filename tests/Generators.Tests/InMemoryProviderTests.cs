using ConsulLock.Aop.Generators.Tests.Examples;
using ConsulLock.Aop.Testing;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// How a user unit-tests their own <c>[ConsulLocked]</c> code without Consul: the generated example runs against
/// <see cref="InMemoryConsulLockProvider"/>, which holds the key the template builds and can make the lock lost.
/// </summary>
public sealed class InMemoryProviderTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_body_runs_under_the_escaped_key_and_the_lock_is_released_after()
    {
        var locks = new InMemoryConsulLockProvider();
        string[]? heldDuringBody = null;
        var receiver = new WebhookReceiver(locks, (_, _, _) =>
        {
            heldDuringBody = [.. locks.HeldKeys];
            return Task.CompletedTask;
        });

        var key = await receiver.HandleNamedAsync("a/b", CancellationToken.None);

        Assert.Equal("webhook_receiver/a%2Fb", key);
        Assert.Equal([key], heldDuringBody!);
        Assert.Empty(locks.HeldKeys);
    }

    [Fact]
    public async Task Losing_the_lock_mid_body_cancels_the_body_and_the_caller_gets_ConsulLockLostException()
    {
        var locks = new InMemoryConsulLockProvider();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receiver = new WebhookReceiver(locks, async (_, _, cancellationToken) =>
        {
            entered.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        });

        var call = receiver.HandleAsync(42, CancellationToken.None);
        await entered.Task.WaitAsync(s_generous);
        Assert.True(locks.Lose("webhook_receiver/42"));

        await Assert.ThrowsAsync<ConsulLockLostException>(() => call.WaitAsync(s_generous));
        Assert.Empty(locks.HeldKeys);
    }
}
