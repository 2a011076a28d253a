using ConsulLock.Aop.Engine;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// The in-process gate of a key, and the place in the key's queue that a release takes for the next local caller
/// (<see cref="QueueHandoff"/>): a place is either used or given back, never dropped, since a dropped place stays in
/// Consul's queue, locked by a live session, ahead of every process that queues after it.
/// </summary>
public sealed class KeyGatesTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_place_left_for_the_next_user_of_the_gate_that_does_not_take_it_goes_back_when_the_gate_empties()
    {
        var unused = new List<QueueHandoff>();
        var gates = new KeyGates((_, handoff) => unused.Add(handoff));
        Assert.True(await gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None));
        // Waiting at the gate: the clean-up of a lock request in doubt, which looks at the key and takes no place.
        var cleanUp = gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();
        Assert.True(gates.HasWaiters("k"));

        var place = new QueueHandoff("k/.consullock-queue/s1", "s1", 42, []);
        gates.Exit("k", place);
        Assert.True(await cleanUp.WaitAsync(s_generous));
        gates.Exit("k");

        Assert.Equal([place], unused);
        Assert.True(gates.IsFree("k"));
    }

    [Fact]
    public async Task A_place_passes_a_user_that_does_not_take_it_and_reaches_the_next_caller()
    {
        var unused = new List<QueueHandoff>();
        var gates = new KeyGates((_, handoff) => unused.Add(handoff));
        Assert.True(await gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None));
        var cleanUp = gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();
        var caller = gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();

        var place = new QueueHandoff("k/.consullock-queue/s1", "s1", 42, []);
        gates.Exit("k", place);
        Assert.True(await cleanUp.WaitAsync(s_generous));
        gates.Exit("k");
        Assert.True(await caller.WaitAsync(s_generous));

        Assert.Same(place, gates.TakeHandoff("k"));
        gates.Exit("k");
        Assert.Empty(unused);
    }

    [Fact]
    public async Task A_newer_place_replaces_an_unused_one_which_goes_back()
    {
        var unused = new List<QueueHandoff>();
        var gates = new KeyGates((_, handoff) => unused.Add(handoff));
        Assert.True(await gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None));
        var second = gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();
        var third = gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();

        var older = new QueueHandoff("k/.consullock-queue/s1", "s1", 42, []);
        var newer = new QueueHandoff("k/.consullock-queue/s1", "s1", 57, []);
        gates.Exit("k", older);
        Assert.True(await second.WaitAsync(s_generous));
        gates.Exit("k", newer);
        Assert.True(await third.WaitAsync(s_generous));

        Assert.Equal([older], unused);
        Assert.Same(newer, gates.TakeHandoff("k"));
        gates.Exit("k");
    }

    [Fact]
    public async Task A_try_once_waits_for_a_gate_that_only_a_give_up_clean_up_holds_but_not_for_a_caller()
    {
        var gates = new KeyGates();
        Assert.True(await gates.EnterAsync("k", Timeout.InfiniteTimeSpan, CancellationToken.None));
        Assert.False(await gates.EnterAsync("k", TimeSpan.Zero, CancellationToken.None, cleanUpGrace: s_generous), "a caller holds the gate");

        gates.MarkCleaningUp("k");
        var tryOnce = gates.EnterAsync("k", TimeSpan.Zero, CancellationToken.None, cleanUpGrace: s_generous).AsTask();
        Assert.False(tryOnce.IsCompleted, "the try waits for the clean-up");
        gates.Exit("k");
        Assert.True(await tryOnce.WaitAsync(s_generous));

        // The mark ended with the clean-up's exit: the gate is now a caller's again.
        Assert.False(await gates.EnterAsync("k", TimeSpan.Zero, CancellationToken.None, cleanUpGrace: s_generous));
        gates.Exit("k");
        Assert.True(gates.IsFree("k"));
    }
}
