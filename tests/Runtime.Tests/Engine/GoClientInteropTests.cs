using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Consul's Go client and our lock on one key exclude each other both ways (issue 9). The Go side is the real thing:
/// <c>consul lock PREFIX CHILD</c> holds an <c>api.Lock</c> on <c>PREFIX/.lock</c> while CHILD runs (a session with
/// TTL 15 s, lock-delay 15 s and the agent's serfHealth check), then releases the key and deletes it when free. Our
/// key <c>job/.lock</c> under the test's prefix is the same key. Both sides write wall-clock timestamps (the child
/// with <c>date +%s%N</c>, we with <see cref="DateTime.UtcNow"/>), so that the order of events is read from one clock.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class GoClientInteropTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private const string Key = "job/.lock";

    /// <summary>The Go client's <c>api.LockFlagValue</c>, written here rather than taken from our code, which it checks.</summary>
    private const ulong GoLockFlags = 0x2ddccbc058a50c18;
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    /// <summary>The prefix <c>consul lock</c> is given: it locks <c>GoPrefix + "/.lock"</c>, our <see cref="Key"/>.</summary>
    private string GoPrefix => Prefix + "job";

    [Fact]
    public async Task A_lock_held_by_the_Go_client_keeps_our_acquire_waiting_until_it_releases()
    {
        var provider = NewProvider();
        await using var go = ConsulLockCommand.Start(Agent.Address, GoPrefix, "echo go-start $(date +%s%N); read line; echo go-end $(date +%s%N)", passStdin: true);
        var goStart = Nanoseconds(await go.LineAsync("go-start", s_generous));
        var goHeld = await ReadKeyAsync(Prefix + Key);
        Assert.NotNull(goHeld);
        var goSession = goHeld.Value.GetProperty("Session").GetString();
        Assert.False(string.IsNullOrEmpty(goSession), "the Go client's child runs, so its key must be held");
        Assert.Equal(GoLockFlags, goHeld.Value.GetProperty("Flags").GetUInt64());
        var goIndex = goHeld.Value.GetProperty("ModifyIndex").GetUInt64();

        var waiting = provider.AcquireAsync(Key).AsTask();
        await UntilWatchedAsync(provider, Key);
        Assert.Single(await QueueEntriesAsync(Key));
        // A bounded look for a grant that must not come: the waiter blocks on Consul, so a second is plenty for a
        // wrong grant to show.
        await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.False(waiting.IsCompleted, "our acquire completed while the Go client's child still ran");

        var letGo = UnixNanoseconds();
        await go.SendLineAsync();
        await using var got = await waiting.WaitAsync(s_generous);
        var ourGrant = UnixNanoseconds();
        var goEnd = Nanoseconds(await go.LineAsync("go-end", s_generous));

        output.WriteLine($"Go child ran {Ms(goEnd - goStart)} ms; our acquire completed {Ms(ourGrant - goEnd)} ms after the Go child ended ({Ms(ourGrant - letGo)} ms after the test let it end)");
        output.WriteLine($"Go lock's ModifyIndex {goIndex}, our fencing token {got.FencingToken}");
        Assert.True(goStart < goEnd && goEnd < ourGrant, $"order: go-start {goStart}, go-end {goEnd}, our grant {ourGrant}");
        Assert.True(got.FencingToken > goIndex, $"our fencing token {got.FencingToken} must be above the Go lock's ModifyIndex {goIndex}");
        Assert.NotEqual(goSession, got.SessionId);

        Assert.Equal(0, await go.ExitedAsync(s_generous));
        await got.DisposeAsync();
        await UntilAsync(async () => await KeysUnderAsync(Key) == 0, "a key or queue entry was left after both sides released");
        Assert.DoesNotContain(goSession, await SessionIdsAsync());
    }

    [Fact]
    public async Task A_lock_held_by_us_keeps_the_Go_client_waiting_until_we_release()
    {
        var provider = NewProvider();
        var held = await provider.AcquireAsync(Key);
        var name = "go-waiter-" + Guid.NewGuid().ToString("N");
        await using var go = ConsulLockCommand.Start(
            Agent.Address, GoPrefix, "echo go-start $(date +%s%N); read line; echo go-end $(date +%s%N)", passStdin: true, sessionName: name);

        // The Go client has created its session: it is past start-up and in its wait for the key.
        await UntilAsync(async () => (await SessionsNamedAsync(name)).Length == 1, "the Go client did not create its session");
        // A fixed, bounded hold: the Go client blocks on the key; 2 s is plenty for a wrong grant to show.
        try
        {
            // A line here would be the failure; the timeout is the expected outcome, observed so that it is not left to
            // the finalizer as an unobserved task exception (which FaultTests' disposal test counts process-wide).
            await go.LineAsync("go-start", TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
        }

        Assert.False(go.HasLine("go-start"), "the Go client's child ran while we held the key");
        Assert.False(go.HasExited, "the Go client gave up instead of waiting: " + go.Output);

        var released = UnixNanoseconds();
        await held.DisposeAsync();
        var goStart = Nanoseconds(await go.LineAsync("go-start", s_generous));
        var goHeld = await ReadKeyAsync(Prefix + Key);
        Assert.NotNull(goHeld);
        Assert.Equal((await SessionsNamedAsync(name)).Single(), goHeld.Value.GetProperty("Session").GetString());
        var goIndex = goHeld.Value.GetProperty("ModifyIndex").GetUInt64();
        output.WriteLine($"the Go child started {Ms(goStart - released)} ms after our release began; our fencing token {held.FencingToken}, the Go lock's ModifyIndex {goIndex}");
        Assert.True(goStart > released, $"the Go child started at {goStart}, before our release began at {released}");
        Assert.True(goIndex > held.FencingToken, $"the Go lock's ModifyIndex {goIndex} must be above our fencing token {held.FencingToken}");

        await go.SendLineAsync();
        Assert.Equal(0, await go.ExitedAsync(s_generous));
        await UntilAsync(async () => await KeysUnderAsync(Key) == 0, "the Go client left its key behind");
        Assert.Empty(await SessionsNamedAsync(name));
    }

    [Fact]
    public async Task The_Go_client_and_our_providers_take_turns_on_one_key_without_overlap()
    {
        const int GoRounds = 4;
        const int OurMinimumRounds = 3;
        var sections = new List<Section>();
        var providers = Enumerable.Range(0, 3).Select(_ => NewProvider()).ToArray();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(40));

        var goDone = RunGoContenderAsync(GoRounds, sections, deadline.Token);
        var callers = providers.SelectMany((provider, p) => Enumerable.Range(0, 2).Select(c => CallerAsync(provider, $"p{p}c{c}"))).ToArray();
        await Task.WhenAll(callers.Append(goDone));

        Section[] ordered;
        lock (sections)
        {
            ordered = [.. sections.OrderBy(s => s.Start)];
        }

        output.WriteLine("order: " + string.Join(' ', ordered.Select(s => s.Who)));
        foreach (var group in ordered.GroupBy(s => s.Who).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{group.Key}: {group.Count()} grants");
        }

        foreach (var handover in ordered.Zip(ordered.Skip(1)).GroupBy(p => (p.First.Who == "go" ? "Go" : "ours") + " -> " + (p.Second.Who == "go" ? "Go" : "ours")))
        {
            var gaps = handover.Select(p => (p.Second.Start - p.First.End) / 1e6).Order().ToArray();
            output.WriteLine($"hand-over {handover.Key}: {gaps.Length}, median {gaps[gaps.Length / 2]:0.0} ms, max {gaps[^1]:0.0} ms (end of one section to start of the next)");
        }

        for (var i = 1; i < ordered.Length; i++)
        {
            Assert.True(
                ordered[i].Start >= ordered[i - 1].End,
                $"{ordered[i - 1].Who} held [{ordered[i - 1].Start}, {ordered[i - 1].End}] and {ordered[i].Who} started at {ordered[i].Start}");
        }

        Assert.Equal(GoRounds, ordered.Count(s => s.Who == "go"));
        Assert.All(
            Enumerable.Range(0, providers.Length).SelectMany(p => Enumerable.Range(0, 2).Select(c => $"p{p}c{c}")),
            who => Assert.True(ordered.Count(s => s.Who == who) >= OurMinimumRounds, $"{who} got too few turns"));
        // Turns were taken, not served in two blocks: some grant of ours came between two of the Go client's.
        var goPositions = ordered.Select((s, i) => (s, i)).Where(x => x.s.Who == "go").Select(x => x.i).ToArray();
        Assert.True(goPositions[^1] - goPositions[0] + 1 > GoRounds, "the Go client's grants were never interleaved with ours");

        var ours = ordered.Where(s => s.Who != "go").Select(s => s.FencingToken).ToArray();
        Assert.True(ours.Zip(ours.Skip(1)).All(p => p.Second > p.First), "our fencing tokens did not strictly increase in grant order");

        await UntilAsync(async () => await KeysUnderAsync(Key) == 0, "the key or a queue entry was left after every contender finished");
        Assert.Empty(await QueueEntriesAsync(Key));

        async Task CallerAsync(ConsulLockProvider provider, string who)
        {
            var rounds = 0;
            while (rounds < OurMinimumRounds || !goDone.IsCompleted)
            {
                await using var handle = await provider.AcquireAsync(Key, cancellationToken: deadline.Token);
                var start = UnixNanoseconds();
                await Task.Delay(10, CancellationToken.None);
                var end = UnixNanoseconds();
                lock (sections)
                {
                    sections.Add(new Section(who, start, end, handle.FencingToken));
                }

                rounds++;
            }
        }
    }

    [Fact]
    public async Task A_killed_Go_holder_blocks_us_until_its_session_is_destroyed_and_its_lock_delay_passes()
    {
        var provider = NewProvider();
        await using var go = ConsulLockCommand.Start(Agent.Address, GoPrefix, "echo go-start $(date +%s%N) $$; read line", passStdin: true);
        var started = (await go.LineAsync("go-start", s_generous)).Split(' ');
        var childPid = int.Parse(started[2], CultureInfo.InvariantCulture);
        try
        {
            var goSession = (await ReadKeyAsync(Prefix + Key))!.Value.GetProperty("Session").GetString()!;
            var waiting = provider.AcquireAsync(Key).AsTask();
            await UntilWatchedAsync(provider, Key);

            // kill -9: the Go client neither releases nor destroys its session. The session carries the agent's
            // serfHealth check, which stays passing while the agent lives, and a TTL of 15 s that Consul enforces only
            // after up to twice that (seen by hand: the session ended 28.6 s after the kill; then the key is kept for
            // its lock-delay, some 45 s in all without an operator).
            go.KillHard();
            Assert.NotEqual(0, await go.ExitedAsync(s_generous));
            var session = await SessionAsync(goSession);
            Assert.NotNull(session);
            output.WriteLine($"the killed Go client's session: TTL {session.Value.GetProperty("TTL").GetString()}, lock-delay {session.Value.GetProperty("LockDelay").GetInt64() / 1e9:0} s, checks [{string.Join(", ", session.Value.GetProperty("NodeChecks").EnumerateArray().Select(c => c.GetString()))}]");
            Assert.Equal(goSession, (await ReadKeyAsync(Prefix + Key))!.Value.GetProperty("Session").GetString());
            await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1)));
            Assert.False(waiting.IsCompleted, "our acquire completed while the killed Go client's session still held the key");

            // What an operator does: destroy the dead holder's session. Consul releases the key and keeps it for the
            // session's lock-delay (the Go client's default, 15 s).
            var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/session/destroy/" + goSession);
            Assert.True(status == HttpStatusCode.OK, body);
            var destroyed = Stopwatch.GetTimestamp();
            await using var got = await waiting.WaitAsync(s_generous);
            var after = Stopwatch.GetElapsedTime(destroyed);
            output.WriteLine($"our waiter got the key {after.TotalSeconds:0.00} s after the Go session was destroyed (its lock-delay is 15 s)");
            Assert.NotEqual(goSession, got.SessionId);
            Assert.False(got.LostToken.IsCancellationRequested);
            await got.DisposeAsync();
            await UntilAsync(async () => await KeysUnderAsync(Key) == 0, "a key or queue entry was left after the release");
        }
        finally
        {
            // The killed client's child is an orphan now, blocked on a stdin nobody will write to.
            go.CloseInput();
            KillIfRunning(childPid);
        }
    }

    [Fact]
    public async Task A_key_held_by_consul_lock_has_a_holder_named_by_its_session_and_our_waiter_is_counted_and_linked_to_nothing()
    {
        var name = "go-holder-" + Guid.NewGuid().ToString("N")[..8];
        await using var go = ConsulLockCommand.Start(Agent.Address, GoPrefix, "echo go-start $(date +%s%N); read line", passStdin: true, sessionName: name);
        await go.LineAsync("go-start", s_generous);
        var goSession = (await SessionsNamedAsync(name)).Single();
        var provider = NewProvider();
        var watcher = NewProvider();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await using var changes = watcher.WatchHolderAsync(Key, stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await changes.MoveNextAsync());

        var holder = await provider.GetHolderAsync(Key);

        Assert.NotNull(holder);
        Assert.Equal(holder, changes.Current);
        Assert.Equal((Prefix + Key, name, goSession), (holder.Key, holder.InstanceName, holder.SessionId));
        Assert.Equal((await SessionAsync(goSession))!.Value.GetProperty("Node").GetString(), holder.Node);
        Assert.Equal((await ReadKeyAsync(Prefix + Key))!.Value.GetProperty("ModifyIndex").GetUInt64(), holder.FencingToken);
        Assert.Null(holder.AcquiredAt);
        Assert.Null(holder.TraceParent);
        Assert.Equal(0, holder.Waiters);

        // Our waiter queues behind the Go client (which has no queue entry) and is counted.
        var waiting = provider.AcquireAsync(Key).AsTask();
        await UntilWatchedAsync(provider, Key);
        Assert.Equal(1, (await watcher.GetHolderAsync(Key))!.Waiters);

        // The Go client lets go; the watch sees the key free (or straight away ours), then ours, with our document.
        await go.SendLineAsync();
        await using var got = await waiting.WaitAsync(s_generous);
        Assert.True(await changes.MoveNextAsync());
        if (changes.Current is null)
        {
            Assert.True(await changes.MoveNextAsync());
        }

        Assert.Equal((got.SessionId, got.FencingToken), (changes.Current!.SessionId, changes.Current.FencingToken));
        Assert.Equal(Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), changes.Current.InstanceName);
        Assert.Equal(0, await go.ExitedAsync(s_generous));
    }

    private async Task RunGoContenderAsync(int rounds, List<Section> sections, CancellationToken cancellationToken)
    {
        for (var round = 0; round < rounds; round++)
        {
            await using var go = ConsulLockCommand.Start(Agent.Address, GoPrefix, "echo go-start $(date +%s%N); sleep 0.05; echo go-end $(date +%s%N)", passStdin: false);
            int exit;
            try
            {
                exit = await go.ExitedAsync(s_generous).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the Go client got {round} of {rounds} grants before the deadline: {go.Output}");
                throw;
            }

            Assert.True(exit == 0, $"consul lock exited {exit}: {go.Output}");
            lock (sections)
            {
                sections.Add(new Section("go", Nanoseconds(go.Line("go-start")), Nanoseconds(go.Line("go-end")), 0));
            }
        }
    }

    private async Task<string[]> SessionsNamedAsync(string name)
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        return JsonDocument.Parse(body).RootElement.EnumerateArray()
            .Where(s => s.GetProperty("Name").GetString() == name)
            .Select(s => s.GetProperty("ID").GetString()!)
            .ToArray();
    }

    private async Task<JsonElement?> SessionAsync(string id)
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/info/" + id);
        var found = JsonDocument.Parse(body).RootElement;
        return found.ValueKind == JsonValueKind.Array && found.GetArrayLength() == 1 ? found[0].Clone() : null;
    }

    private static void KillIfRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.ProcessName == "sh")
            {
                process.Kill();
            }
        }
        catch (ArgumentException)
        {
            // Gone already.
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private static long UnixNanoseconds() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    /// <summary>The timestamp a child wrote, the second word of its line (<c>go-start 1795653907539607854 ...</c>).</summary>
    private static long Nanoseconds(string line) => long.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);

    private static string Ms(long nanoseconds) => (nanoseconds / 1e6).ToString("0.0", CultureInfo.InvariantCulture);

    private sealed record Section(string Who, long Start, long End, ulong FencingToken);

    /// <summary>
    /// One <c>consul lock</c> process: Consul's Go client holding <c>PREFIX/.lock</c> while a <c>sh</c> child runs.
    /// Its output (the child's included) is kept by line, and a test awaits the line it expects. Disposal ends it the
    /// way an operator would (SIGTERM: it stops the child, releases the key and destroys its session), and kills what
    /// is left after a grace period.
    /// </summary>
    private sealed class ConsulLockCommand : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ConsulLockCommand(Process process) => _process = process;

        public bool HasExited => _process.HasExited;

        public string Output
        {
            get
            {
                lock (_lines)
                {
                    return string.Join('\n', _lines);
                }
            }
        }

        public static ConsulLockCommand Start(Uri agent, string prefix, string child, bool passStdin, string? sessionName = null)
        {
            var start = new ProcessStartInfo(ConsulBinary.Path)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("lock");
            start.ArgumentList.Add("-http-addr=" + agent.GetLeftPart(UriPartial.Authority));
            if (passStdin)
            {
                start.ArgumentList.Add("-pass-stdin");
            }

            if (sessionName is not null)
            {
                start.ArgumentList.Add("-name=" + sessionName);
            }

            start.ArgumentList.Add(prefix);
            start.ArgumentList.Add(child);
            // consul lock runs the child with $SHELL -c; pin it, whatever shell the test host runs under.
            start.Environment["SHELL"] = "/bin/sh";
            start.Environment.Remove("CONSUL_HTTP_TOKEN");

            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            var command = new ConsulLockCommand(process);
            process.OutputDataReceived += (_, e) => command.Keep(e.Data);
            process.ErrorDataReceived += (_, e) => command.Keep(e.Data is null ? null : "stderr: " + e.Data);
            process.Exited += (_, _) => command._exited.TrySetResult();
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return command;
        }

        public bool HasLine(string prefix)
        {
            lock (_lines)
            {
                return _lines.Exists(l => l.StartsWith(prefix + " ", StringComparison.Ordinal));
            }
        }

        /// <summary>The first line that starts with <paramref name="prefix"/>; fails when there is none.</summary>
        public string Line(string prefix)
        {
            lock (_lines)
            {
                return _lines.Find(l => l.StartsWith(prefix + " ", StringComparison.Ordinal))
                    ?? throw new InvalidOperationException($"no '{prefix}' line in the output of consul lock:\n{string.Join('\n', _lines)}");
            }
        }

        /// <summary>Until a line starting with <paramref name="prefix"/> is written; fails at <paramref name="limit"/> or when the process ends without one.</summary>
        public async Task<string> LineAsync(string prefix, TimeSpan limit)
        {
            var started = Stopwatch.GetTimestamp();
            while (true)
            {
                Task changed;
                lock (_lines)
                {
                    if (_lines.Find(l => l.StartsWith(prefix + " ", StringComparison.Ordinal)) is { } line)
                    {
                        return line;
                    }

                    changed = _changed.Task;
                }

                var left = limit - Stopwatch.GetElapsedTime(started);
                if (left <= TimeSpan.Zero || (_process.HasExited && changed.IsCompleted))
                {
                    throw new TimeoutException($"consul lock wrote no '{prefix}' line within {limit.TotalSeconds:0} s (exited: {_process.HasExited}):\n{Output}");
                }

                try
                {
                    await changed.WaitAsync(left);
                }
                catch (TimeoutException)
                {
                    // Looked at once more above, then reported.
                }
            }
        }

        /// <summary>Writes a line to the child's standard input (it runs with <c>-pass-stdin</c>): lets it go on.</summary>
        public async Task SendLineAsync()
        {
            await _process.StandardInput.WriteLineAsync();
            await _process.StandardInput.FlushAsync();
        }

        public void CloseInput()
        {
            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The reader is gone.
            }
        }

        /// <summary>SIGKILL to <c>consul lock</c> alone: its child lives on, as after a crash.</summary>
        public void KillHard() => _process.Kill(entireProcessTree: false);

        /// <summary>
        /// Until <c>consul lock</c> itself has exited. Not <see cref="Process.WaitForExitAsync"/>, which also waits for
        /// the end of its output, and that is held open by a child outliving it.
        /// </summary>
        public async Task<int> ExitedAsync(TimeSpan limit)
        {
            await _exited.Task.WaitAsync(limit);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!_process.HasExited)
                {
                    // SIGTERM: consul lock stops its child (up to 5 s), releases the key and destroys its session.
                    await ChildProcess.RunAsync("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
                    try
                    {
                        await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
                    }
                    catch (TimeoutException)
                    {
                        _process.Kill(entireProcessTree: true);
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
            finally
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                }

                _process.Dispose();
            }
        }

        private void Keep(string? line)
        {
            TaskCompletionSource changed;
            lock (_lines)
            {
                if (line is not null)
                {
                    _lines.Add(line);
                }

                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            changed.TrySetResult();
        }
    }
}
