using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.Engine;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Who holds it (issue 20, CONTRACT.md section 8), against a real agent: the document our lock request writes, the
/// holder read back by another provider, waiters counted from the queue of other processes, the watch in order, the
/// trace link, and keys whose value is not ours.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class HolderTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private const ulong GoLockFlags = 0x2ddccbc058a50c18;
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_holder_of_our_lock_is_read_back_with_its_instance_session_token_time_and_trace_parent()
    {
        using var listener = new AcquireActivities();
        var holder = NewProvider(o => o.InstanceName = "billing-7/pod-a");
        var reader = NewProvider();
        var before = DateTimeOffset.UtcNow;
        await using var handle = await holder.AcquireAsync("who/1");
        var after = DateTimeOffset.UtcNow;
        var acquire = listener.Stopped.Single(a => (string?)a.GetTagItem("consullock.key") == Prefix + "who/1");

        var seen = await reader.GetHolderAsync("who/1");

        Assert.NotNull(seen);
        output.WriteLine(seen.ToString());
        Assert.Equal(Prefix + "who/1", seen.Key);
        Assert.Equal("billing-7/pod-a", seen.InstanceName);
        Assert.Equal(handle.SessionId, seen.SessionId);
        Assert.Equal(handle.FencingToken, seen.FencingToken);
        Assert.Equal(acquire.Id, seen.TraceParent);
        Assert.Equal(0, seen.Waiters);
        Assert.Equal(await SessionNodeAsync(handle.SessionId), seen.Node);
        Assert.NotNull(seen.AcquiredAt);
        // Same machine, same clock: between the call and its return (to the millisecond the document keeps).
        Assert.InRange(seen.AcquiredAt.Value, before.AddMilliseconds(-1), after.AddMilliseconds(1));

        // The key's value is the documented JSON, as any other client reads it.
        var value = await ValueOfAsync("who/1");
        using var document = JsonDocument.Parse(value);
        var root = document.RootElement;
        Assert.Equal("billing-7/pod-a", root.GetProperty("instance").GetString());
        Assert.Equal(Environment.MachineName, root.GetProperty("host").GetString());
        Assert.Equal(Environment.ProcessId, root.GetProperty("pid").GetInt32());
        Assert.Equal(acquire.Id, root.GetProperty("traceparent").GetString());
        Assert.EndsWith("Z", root.GetProperty("acquired").GetString(), StringComparison.Ordinal);

        await handle.DisposeAsync();
        Assert.Null(await reader.GetHolderAsync("who/1"));
    }

    [Fact]
    public async Task A_lock_taken_outside_any_activity_has_no_trace_parent_and_a_free_or_absent_key_has_no_holder()
    {
        var provider = NewProvider();
        Assert.Null(await provider.GetHolderAsync("never/locked"));

        Activity.Current = null;
        await using (var handle = await provider.AcquireAsync("plain"))
        {
            var seen = await provider.GetHolderAsync("plain");
            Assert.NotNull(seen);
            Assert.Equal(Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), seen.InstanceName);
            // Another test's listener may sample our acquire; the trace parent is then that activity's, never garbage.
            Assert.True(seen.TraceParent is null || ActivityContext.TryParse(seen.TraceParent, null, out _), seen.TraceParent);
        }

        // Released: the key is gone (or free), and nobody holds it.
        Assert.Null(await provider.GetHolderAsync("plain"));
    }

    [Fact]
    public async Task Waiters_are_the_other_processes_queued_for_the_key()
    {
        var holder = NewProvider(o => o.InstanceName = "the-holder");
        await using var handle = await holder.AcquireAsync("queued");
        var contenders = Enumerable.Range(0, 2).Select(_ => Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender"), "hold", Agent.Address.ToString(), Prefix, "queued", "00:00:10", "00:00:00" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!).ToArray();
        try
        {
            // Each contender process waits in the key's queue in Consul.
            await UntilAsync(async () => (await QueueEntriesAsync("queued")).Length == 2, "the two contender processes did not queue");

            var seen = await NewProvider().GetHolderAsync("queued");

            Assert.NotNull(seen);
            Assert.Equal("the-holder", seen.InstanceName);
            Assert.Equal(2, seen.Waiters);

            // One contender gets the key when we let go; the other still waits behind it.
            await handle.DisposeAsync();
            ConsulLockHolder? next = null;
            await UntilAsync(async () => (next = await holder.GetHolderAsync("queued")) is not null, "no contender took the key");
            Assert.NotEqual(handle.SessionId, next!.SessionId);
            Assert.Equal(1, next.Waiters);
        }
        finally
        {
            foreach (var contender in contenders)
            {
                contender.Kill(entireProcessTree: true);
                await contender.WaitForExitAsync();
                contender.Dispose();
            }
        }
    }

    [Fact]
    public async Task The_watch_sees_the_holder_then_null_then_the_next_holder_in_order()
    {
        var first = NewProvider(o => o.InstanceName = "first");
        var second = NewProvider(o => o.InstanceName = "second");
        var watcher = NewProvider();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var a = await first.AcquireAsync("watched");

        await using var changes = watcher.WatchHolderAsync("watched", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(("first", a.SessionId, a.FencingToken), (changes.Current!.InstanceName, changes.Current.SessionId, changes.Current.FencingToken));

        await a.DisposeAsync();
        Assert.True(await changes.MoveNextAsync());
        Assert.Null(changes.Current);

        await using var b = await second.AcquireAsync("watched");
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(("second", b.SessionId, b.FencingToken), (changes.Current!.InstanceName, changes.Current.SessionId, changes.Current.FencingToken));

        // Nothing more happened, so nothing more comes.
        var more = changes.MoveNextAsync().AsTask();
        Assert.NotSame(more, await Task.WhenAny(more, Task.Delay(TimeSpan.FromSeconds(1))));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => more);
    }

    [Fact]
    public async Task A_watch_rides_on_blocking_queries_and_ends_with_the_provider()
    {
        var watcher = NewProvider(o => o.InstanceName = "watcher");
        var changes = watcher.WatchHolderAsync("ends").GetAsyncEnumerator();
        Assert.True(await changes.MoveNextAsync());
        Assert.Null(changes.Current);
        var next = changes.MoveNextAsync().AsTask();
        // The watch blocks on Consul (a query of its own) rather than polling.
        await UntilAsync(() => Task.FromResult(watcher.Engine.Watches.IsWatching(Prefix + "ends")), "no blocking query on the watched key");

        await watcher.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => next.WaitAsync(s_generous));
        await changes.DisposeAsync();
    }

    [Fact]
    public async Task A_watch_rides_out_refused_connections_and_500s_and_then_reports_the_holder_that_came_meanwhile()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var watcher = NewProvider(o => o.WatchWait = TimeSpan.FromSeconds(2), proxy.Address);
        var first = NewProvider(o => o.InstanceName = "before-the-outage");
        var second = NewProvider(o => o.InstanceName = "during-the-outage");
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var a = await first.AcquireAsync("outage");
        await using var changes = watcher.WatchHolderAsync("outage", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal("before-the-outage", changes.Current!.InstanceName);
        var next = changes.MoveNextAsync().AsTask();

        var cut = Stopwatch.GetTimestamp();
        await proxy.RefuseAsync();
        await a.DisposeAsync();
        await using var b = await second.AcquireAsync("outage");
        await UntilAsync(() => Task.FromResult(watcher.Client.FailingSince(cut) is not null), "the watch did not meet the refused connections");
        proxy.Heal();
        proxy.AnswerWithError();
        var erring = Stopwatch.GetTimestamp();
        await UntilAsync(() => Task.FromResult(watcher.Client.FailingSince(erring) is { StatusCode: 500 }), "the watch did not meet the 500s");
        Assert.False(next.IsCompleted, "the watch ended or reported during the outage: " + next.Status);
        proxy.Heal();

        // The release during the outage may be seen or not (Consul answers with the state at the time); what follows it
        // is seen, in order, and the watch goes on.
        Assert.True(await next.WaitAsync(s_generous));
        if (changes.Current is null)
        {
            Assert.True(await changes.MoveNextAsync().AsTask().WaitAsync(s_generous));
        }

        Assert.Equal(("during-the-outage", b.SessionId, b.FencingToken), (changes.Current!.InstanceName, changes.Current.SessionId, changes.Current.FencingToken));
    }

    [Fact]
    public async Task A_watch_reports_the_holder_of_a_Consul_whose_index_went_backwards()
    {
        await using var fresh = await ConsulAgent.StartDevAsync();
        await using var proxy = FaultProxy.Start(Agent.Address);
        var watcher = NewProvider(o => o.WatchWait = TimeSpan.FromSeconds(2), proxy.Address);
        await using var old = await NewProvider(o => o.InstanceName = "old-cluster").AcquireAsync("backwards");
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await using var changes = watcher.WatchHolderAsync("backwards", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal("old-cluster", changes.Current!.InstanceName);
        for (var i = 0; i < 30; i++)
        {
            // The old agent's index runs well ahead of the fresh one's.
            await PutAsync($"/v1/kv/{Prefix}backwards-filler/{i}", "x");
        }

        // The fresh agent: the key held by someone else, at an index far below the old one's.
        var onFresh = new ConsulLockProvider(new ConsulLockOptions { Address = fresh.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, InstanceName = "new-cluster" });
        await using (onFresh)
        {
            await using var renewed = await onFresh.AcquireAsync("backwards");
            Assert.True(renewed.FencingToken < old.FencingToken, $"the fresh agent's index {renewed.FencingToken} is not below the old one's {old.FencingToken}");

            // To the watcher, Consul restarted with other data and a lower index.
            await proxy.RetargetAsync(fresh.Address);

            Assert.True(await changes.MoveNextAsync().AsTask().WaitAsync(s_generous));
            Assert.Equal(("new-cluster", renewed.SessionId, renewed.FencingToken), (changes.Current!.InstanceName, changes.Current.SessionId, changes.Current.FencingToken));
        }
    }

    [Fact]
    public async Task A_waiters_acquire_activity_is_linked_to_the_holders_trace()
    {
        using var listener = new AcquireActivities();
        var holder = NewProvider(o => o.InstanceName = "traced-holder");
        var waiter = NewProvider();
        using var request = new Activity("incoming request").Start();
        var held = await holder.AcquireAsync("traced");
        var holderTrace = (await waiter.GetHolderAsync("traced"))!.TraceParent;
        Assert.NotNull(holderTrace);
        request.Stop();

        var waiting = waiter.AcquireAsync("traced").AsTask();
        await UntilWatchedAsync(waiter, "traced");
        await held.DisposeAsync();
        await using (await waiting.WaitAsync(s_generous))
        {
        }

        var acquires = listener.Stopped.Where(a => (string?)a.GetTagItem("consullock.key") == Prefix + "traced").ToArray();
        // The holder's acquire ran inside the request's trace; the waiter's is a trace of its own, linked to it.
        Assert.Equal(request.TraceId, Assert.Single(acquires, a => a.Id == holderTrace).TraceId);
        var waited = Assert.Single(acquires, a => a.TraceId != request.TraceId);
        var link = Assert.Single(waited.Links);
        var expected = ActivityContext.Parse(holderTrace, null);
        Assert.Equal(expected.TraceId, link.Context.TraceId);
        Assert.Equal(expected.SpanId, link.Context.SpanId);
        Assert.Equal(held.SessionId, link.Tags!.Single(t => t.Key == "consullock.holder.session").Value);
    }

    [Theory]
    [InlineData("not json {")]
    [InlineData("{\"instance\": 5, \"acquired\": [1, 2]}")]
    [InlineData("{\"instance\": \"\"}")]
    [InlineData("[\"instance\", \"x\"]")]
    [InlineData("{\"instance\": \"spoof\", \"acquired\": \"yesterday\", \"traceparent\": \"00-zz\", \"pid\": 1e40}")]
    [InlineData("")]
    public async Task A_malformed_or_foreign_value_in_a_held_key_still_gives_a_holder(string value)
    {
        var sessionName = "foreign-" + Guid.NewGuid().ToString("N")[..8];
        var (_, created) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/session/create", $$"""{"Name":"{{sessionName}}","TTL":"30s","LockDelay":"0s"}""");
        var session = JsonDocument.Parse(created).RootElement.GetProperty("ID").GetString()!;
        try
        {
            var (_, acquired) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, $"/v1/kv/{Prefix}foreign?acquire={session}&flags={GoLockFlags}", value);
            Assert.Equal("true", acquired.Trim());

            var seen = await NewProvider().GetHolderAsync("foreign");

            Assert.NotNull(seen);
            Assert.Equal(session, seen.SessionId);
            if (value.Contains("spoof", StringComparison.Ordinal))
            {
                // A document with a name is read; what cannot be read in it is left out, not guessed.
                Assert.Equal("spoof", seen.InstanceName);
                Assert.Null(seen.AcquiredAt);
                Assert.Null(seen.TraceParent);
            }
            else
            {
                Assert.Equal(sessionName, seen.InstanceName);
                Assert.Null(seen.AcquiredAt);
            }
        }
        finally
        {
            await PutAsync("/v1/session/destroy/" + session);
        }
    }

    [Fact]
    public async Task A_large_binary_value_and_a_data_key_do_not_break_the_read()
    {
        var (_, created) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/session/create", """{"TTL":"30s","LockDelay":"0s"}""");
        var session = JsonDocument.Parse(created).RootElement.GetProperty("ID").GetString()!;
        try
        {
            var binary = new string('\u00ff', 100_000);
            await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, $"/v1/kv/{Prefix}binary?acquire={session}&flags={GoLockFlags}", binary);
            await PutAsync($"/v1/kv/{Prefix}data", "{\"instance\":\"not a lock\"}");

            var provider = NewProvider();
            var seen = await provider.GetHolderAsync("binary");
            Assert.NotNull(seen);
            // No session name: the node names it.
            Assert.Equal(await SessionNodeAsync(session), seen.InstanceName);
            Assert.Null(await provider.GetHolderAsync("data"));
        }
        finally
        {
            await PutAsync("/v1/session/destroy/" + session);
        }
    }

    [Fact]
    public async Task The_list_under_a_prefix_shows_each_held_lock_once_sorted_with_its_waiters_and_nothing_else()
    {
        var a = NewProvider(o => o.InstanceName = "a");
        var b = NewProvider(o => o.InstanceName = "b");
        await using var x = await a.AcquireAsync("list/x");
        await using var y = await b.AcquireAsync("list/a/y");
        var waiting = a.AcquireAsync("list/a/y").AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("list/a/y")).Length == 1, "the waiter did not queue");
        await PutAsync($"/v1/kv/{Prefix}list/data", "data");
        await using (var free = await b.AcquireAsync("list/free"))
        {
        }

        var listed = await new HolderReader(a.Client).ListAsync(Prefix + "list/", CancellationToken.None);

        output.WriteLine(string.Join('\n', listed));
        Assert.Equal([Prefix + "list/a/y", Prefix + "list/x"], listed.Select(h => h.Key));
        Assert.Equal(("b", y.SessionId, y.FencingToken, 1), (listed[0].InstanceName, listed[0].SessionId, listed[0].FencingToken, listed[0].Waiters));
        Assert.Equal(("a", x.SessionId, x.FencingToken, 0), (listed[1].InstanceName, listed[1].SessionId, listed[1].FencingToken, listed[1].Waiters));
        Assert.All(listed, h => Assert.False(string.IsNullOrEmpty(h.Node)));
        Assert.Empty(await new HolderReader(a.Client).ListAsync(Prefix + "nothing/", CancellationToken.None));

        await y.DisposeAsync();
        await using (await waiting.WaitAsync(s_generous))
        {
        }
    }

    [Fact]
    public async Task A_forced_release_destroys_the_holders_session_its_lost_token_fires_and_the_next_caller_gets_the_key()
    {
        var holder = NewProvider(o => o.InstanceName = "forced");
        var next = NewProvider();
        var handle = await holder.AcquireAsync("forced");
        var waiting = next.AcquireAsync("forced").AsTask();
        await UntilWatchedAsync(next, "forced");

        var ended = await new HolderReader(next.Client).ForceReleaseAsync(Prefix + "forced", CancellationToken.None);

        Assert.NotNull(ended);
        Assert.Equal(("forced", handle.SessionId), (ended.InstanceName, ended.SessionId));
        await Task.Delay(Timeout.Infinite, handle.LostToken).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(s_generous);
        await using (var got = await waiting.WaitAsync(s_generous))
        {
            Assert.True(got.FencingToken > handle.FencingToken);
        }

        await handle.DisposeAsync();
        Assert.Null(await new HolderReader(next.Client).ForceReleaseAsync(Prefix + "forced", CancellationToken.None));
    }

    [Fact]
    public async Task A_key_released_by_Consul_for_an_ended_session_keeps_no_document_behind_after_the_next_release()
    {
        var holder = NewProvider();
        var handle = await holder.AcquireAsync("tidy");
        await PutAsync("/v1/session/destroy/" + handle.SessionId);
        await Task.Delay(Timeout.Infinite, handle.LostToken).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(s_generous);
        // Consul released the key and kept its value (our document); the holder's release removes it all the same.
        await handle.DisposeAsync();
        await UntilNothingLeftAsync("tidy");
    }

    [Fact]
    public async Task The_stuck_wait_warning_names_the_holders_instance_to_the_first_waiter_and_to_one_behind_it()
    {
        var holder = NewProvider(o => o.InstanceName = "slow-holder/42");
        await using var held = await holder.AcquireAsync("slow");
        var logs = new RecordingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        // The warning comes after one session TTL of waiting: the shortest Consul allows.
        var options = new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, SessionTtl = TimeSpan.FromSeconds(10) };
        await using var first = new ConsulLockProvider(options, loggerFactory);
        await using var second = new ConsulLockProvider(options, loggerFactory);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var firstWaiting = first.AcquireAsync("slow", cancellationToken: stop.Token).AsTask();
        await UntilAsync(async () => (await QueueEntriesAsync("slow")).Length == 1, "the first waiter did not queue");
        var secondWaiting = second.AcquireAsync("slow", cancellationToken: stop.Token).AsTask();

        string[] stuck = [];
        await UntilAsync(
            () => Task.FromResult((stuck = [.. logs.Lines.Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^Waiting for lock \S+ for \d+ s: "))]).Length >= 2),
            "no two stuck-wait warnings within 30 s");

        output.WriteLine(string.Join('\n', stuck));
        Assert.Contains(stuck, l => l.Contains($"the key, held by slow-holder/42 (session {held.SessionId})", StringComparison.Ordinal));
        Assert.Contains(stuck, l => l.Contains("the process queued before this one", StringComparison.Ordinal)
            && l.Contains($"the key is held by slow-holder/42 (session {held.SessionId})", StringComparison.Ordinal));

        await held.DisposeAsync();
        await (await firstWaiting.WaitAsync(s_generous)).DisposeAsync();
        await (await secondWaiting.WaitAsync(s_generous)).DisposeAsync();
    }

    [Fact]
    public async Task What_a_read_costs_does_not_grow_with_the_keys_beside_it()
    {
        var holders = NewProvider();
        var handles = new List<IConsulLockHandle>();
        for (var i = 0; i < 100; i++)
        {
            handles.Add(await holders.AcquireAsync($"bulk/{i:000}"));
        }

        var requests = new CountingHandler();
        await using var reader = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix }, null, requests);

        var one = await reader.GetHolderAsync("bulk/042");
        Assert.Equal(handles[42].SessionId, one!.SessionId);
        // The key, its queue folder, the holder's session: whatever the folder holds.
        Assert.Equal(3, requests.Requests);

        var all = await new HolderReader(reader.Client).ListAsync(Prefix + "bulk/", CancellationToken.None);
        Assert.Equal(handles.Select(h => (h.Key, h.FencingToken)), all.Select(h => (h.Key, h.FencingToken)));
        // One recursive read and one session list for 100 keys.
        Assert.Equal(5, requests.Requests);

        foreach (var handle in handles)
        {
            await handle.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_read_or_a_watch_against_a_Consul_that_hangs_ends_at_once_when_cancelled()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var reader = NewProvider(address: proxy.Address);
        using (var cancelled = new CancellationTokenSource())
        {
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.GetHolderAsync("hang", cancelled.Token));
        }

        await using var changes = reader.WatchHolderAsync("hang").GetAsyncEnumerator();
        Assert.True(await changes.MoveNextAsync());
        proxy.Blackhole();

        using var stop = new CancellationTokenSource();
        var reading = reader.GetHolderAsync("hang", stop.Token).AsTask();
        using var stopWatch = new CancellationTokenSource();
        await using var hungWatch = reader.WatchHolderAsync("hang", stopWatch.Token).GetAsyncEnumerator();
        var watching = hungWatch.MoveNextAsync().AsTask();
        Assert.False(reading.IsCompleted || watching.IsCompleted);

        await stop.CancelAsync();
        await stopWatch.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(s_generous));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching.WaitAsync(s_generous));
        proxy.Heal();
    }

    [Fact]
    public async Task A_minimum_hold_still_names_its_holder_after_the_key_went_to_the_hold_session()
    {
        var job = NewProvider(o => o.InstanceName = "nightly-job/pod-b");
        var reader = NewProvider();
        var handle = await job.AcquireAsync("nightly", new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(20) });
        var granted = await reader.GetHolderAsync("nightly");

        await handle.DisposeAsync();
        ConsulLockHolder? held = null;
        await UntilAsync(async () => (held = await reader.GetHolderAsync("nightly"))?.SessionId != handle.SessionId, "the key was not handed to a hold session");

        Assert.NotNull(held);
        // Another session (the hold's), the same holder: its instance, grant time and trace.
        Assert.Equal(("nightly-job/pod-b", granted!.AcquiredAt, granted.TraceParent), (held.InstanceName, held.AcquiredAt, held.TraceParent));
    }

    [Fact]
    public async Task Bad_keys_fail_before_any_request()
    {
        var requests = new CountingHandler();
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address }, null, requests);

        await Assert.ThrowsAsync<ArgumentException>(async () => await provider.GetHolderAsync("a//b"));
        Assert.Throws<ArgumentException>(() => provider.WatchHolderAsync("../x"));
        Assert.Throws<ArgumentNullException>(() => provider.WatchHolderAsync(null!));
        Assert.Equal(0, requests.Requests);
    }

    private async Task<string> SessionNodeAsync(string session)
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/info/" + session);
        return JsonDocument.Parse(body).RootElement[0].GetProperty("Node").GetString()!;
    }

    private async Task<string> ValueOfAsync(string key)
    {
        var entry = await ReadKeyAsync(Prefix + key);
        return Encoding.UTF8.GetString(Convert.FromBase64String(entry!.Value.GetProperty("Value").GetString()!));
    }

    /// <summary>Records every stopped acquire activity of the library (every test's: filter by key).</summary>
    private sealed class AcquireActivities : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly List<Activity> _stopped = [];

        public AcquireActivities()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "ConsulLock.Aop",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    lock (_stopped)
                    {
                        _stopped.Add(activity);
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public Activity[] Stopped
        {
            get
            {
                lock (_stopped)
                {
                    return [.. _stopped];
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
