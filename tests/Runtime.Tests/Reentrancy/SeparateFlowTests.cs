using ConsulLock.Aop.Testing;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Reentrancy;

/// <summary>
/// A "flow" is the async flow: tasks started while a key is held inherit it (so asking for that key there is
/// reentrancy), unless started inside <see cref="ConsulLocking.SeparateFlow"/>, where they wait like other callers.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class SeparateFlowTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    public static TheoryData<string> Providers => ["consul", "in-memory"];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_task_started_while_the_key_is_held_is_the_same_flow(string kind)
    {
        var provider = Provider(kind);
        await using var held = await provider.AcquireAsync("k/1");

        var child = Task.Run(async () => await provider.AcquireAsync("k/1"));

        var error = await Assert.ThrowsAsync<ConsulLockReentrancyException>(() => child.WaitAsync(s_generous));
        Assert.Equal(held.Key, error.Key);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_task_started_in_a_separate_flow_waits_for_the_key_and_gets_it_after_the_parent_releases(string kind)
    {
        var provider = Provider(kind);
        var held = await provider.AcquireAsync("k/1");
        var childHolds = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        Task child;
        using (ConsulLocking.SeparateFlow())
        {
            child = Task.Run(async () =>
            {
                await using var handle = await provider.AcquireAsync("k/1");
                childHolds.SetResult(handle.Key);
            });
        }

        // Still the parent's: the child waits, neither failing nor getting in (a negative needs a window to watch).
        await Task.WhenAny(child, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.False(child.IsCompleted, child.Exception?.ToString());
        Assert.False(childHolds.Task.IsCompleted);

        await held.DisposeAsync();
        Assert.Equal(held.Key, await childHolds.Task.WaitAsync(s_generous));
        await child.WaitAsync(s_generous);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task After_the_scope_the_parent_still_holds_its_keys_and_those_taken_inside(string kind)
    {
        var provider = Provider(kind);
        await using var before = await provider.AcquireAsync("k/before");
        IConsulLockHandle inside;
        using (ConsulLocking.SeparateFlow())
        {
            inside = await provider.AcquireAsync("k/inside");
        }

        await using (inside)
        {
            await Assert.ThrowsAsync<ConsulLockReentrancyException>(async () => await provider.AcquireAsync("k/before"));
            await Assert.ThrowsAsync<ConsulLockReentrancyException>(async () => await provider.AcquireAsync("k/inside"));
        }
    }

    private IConsulLockProvider Provider(string kind) =>
        kind == "consul" ? NewProvider() : new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = Prefix });
}
