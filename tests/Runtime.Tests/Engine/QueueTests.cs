using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// The queue of waiting processes (issue 9): each waiter watches only the entry before its own. These tests try to
/// break it where a queue breaks: a waiter in the middle that gives up, one that is cut off while the key is free, and
/// entries left by processes that are gone. Exclusion never depends on the queue (the key's lock does that), so what
/// is asserted is that nobody waits for ever and nothing is left behind.
/// </summary>
[Collection(ScaleCollection.Name)]
public sealed class QueueTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_waiter_that_gives_up_in_the_middle_of_the_queue_lets_the_one_behind_it_move_up()
    {
        var holder = NewProvider();
        var middle = NewProvider();
        var last = NewProvider();
        var held = await holder.AcquireAsync("middle");
        using var giveUp = new CancellationTokenSource();
        var middleWaiting = middle.AcquireAsync("middle", cancellationToken: giveUp.Token).AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("middle")).Length == 1, "the middle waiter did not queue");
        var lastWaiting = last.AcquireAsync("middle").AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("middle")).Length == 2, "the last waiter did not queue");

        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => middleWaiting);
        await UntilAsync(async () => (await QueueEntriesAsync("middle")).Length == 1, "the middle waiter's entry stayed");
        Assert.False(lastWaiting.IsCompleted, "the last waiter must not get a held lock");

        await held.DisposeAsync();
        // Well under the session TTL (10 s), after which a waiter would look at the key anyway: the entry's removal
        // moved the last waiter up, so the release reached it directly.
        await using var got = await lastWaiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(got.FencingToken > held.FencingToken);
        await got.DisposeAsync();
        Assert.Equal(0, await KeysUnderAsync("middle"));
    }

    [Fact]
    public async Task A_waiter_cut_off_from_Consul_at_the_head_of_the_queue_does_not_hold_up_the_others()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var holder = NewProvider();
        var cutOff = NewProvider(address: proxy.Address);
        var behind = NewProvider();
        var held = await holder.AcquireAsync("stuck");
        var cutOffWaiting = cutOff.AcquireAsync("stuck").AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("stuck")).Length == 1, "the first waiter did not queue");
        var behindWaiting = behind.AcquireAsync("stuck").AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("stuck")).Length == 2, "the second waiter did not queue");

        // The first waiter can no longer reach Consul, but its session lives on for up to two TTLs: the key is free and
        // only it may take it next. The one behind looks at the key after one quiet TTL and takes it.
        proxy.Blackhole();
        await held.DisposeAsync();
        var released = DateTime.UtcNow;
        await using (var got = await behindWaiting.WaitAsync(s_generous))
        {
            output.WriteLine($"the waiter behind the cut-off one got the key {(DateTime.UtcNow - released).TotalSeconds:0.0} s after the release");
            Assert.True(got.FencingToken > held.FencingToken);
            Assert.False(cutOffWaiting.IsCompleted, "the cut-off waiter cannot have the key");
        }

        // Healed, the cut-off waiter carries on (its session may be gone meanwhile: it queues again) and gets the key.
        proxy.Heal();
        await using (var late = await cutOffWaiting.WaitAsync(TimeSpan.FromSeconds(60)))
        {
            Assert.False(late.LostToken.IsCancellationRequested);
        }

        await UntilAsync(async () => await KeysUnderAsync("stuck") == 0, "a key or queue entry was left behind");
    }

    [Fact]
    public async Task Entries_left_by_processes_that_are_gone_are_skipped_and_removed()
    {
        var holder = NewProvider();
        var held = await holder.AcquireAsync("dead");
        // Three waiters whose sessions end while they wait (their processes die): Consul releases their entries, which
        // stay as keys with no session.
        var dying = Enumerable.Range(0, 3).Select(_ => NewProvider(o => o.SessionIdleTimeout = TimeSpan.Zero)).ToArray();
        var waits = new List<Task>();
        for (var i = 0; i < dying.Length; i++)
        {
            waits.Add(dying[i].AcquireAsync("dead").AsTask());
            var expected = i + 1;
            await UntilAsync(async () => (await QueueEntriesAsync("dead")).Length == expected, "a waiter did not queue");
        }

        var survivor = NewProvider();
        var surviving = survivor.AcquireAsync("dead").AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("dead")).Length == 4, "the survivor did not queue");
        foreach (var session in dying.SelectMany(p => p.SessionIds))
        {
            await PutAsync("/v1/session/destroy/" + session);
        }

        await held.DisposeAsync();
        await using (var got = await surviving.WaitAsync(s_generous))
        {
            Assert.True(got.FencingToken > held.FencingToken);
        }

        foreach (var provider in dying)
        {
            await provider.DisposeAsync();
        }

        await Task.WhenAll(waits.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));
        await UntilAsync(async () => await KeysUnderAsync("dead") == 0, "dead queue entries were left behind");
    }
}
