using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using ConsulLock.Aop.Tests.Engine;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Semaphores;

/// <summary>
/// Semaphores across processes (issue 22's acceptance): our processes (tests/LockContender in its semaphore mode) and
/// Consul's Go client (<c>consul lock -n N</c>, an <c>api.Semaphore</c>) on one prefix. The bodies record themselves:
/// each writes a file of its own into a shared folder while it runs and counts the files there, so "never more than
/// N at once" is read from what the bodies saw, not from Consul.
/// </summary>
[Collection(SemaphoreCollection.Name)]
public sealed class SemaphoreProcessTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private const int Limit = 3;
    private static readonly TimeSpan s_generous = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Eight_processes_of_four_callers_with_limit_3_never_run_more_than_3_bodies_and_serve_every_caller()
    {
        var folder = NewFolder();
        try
        {
            var ours = await RunContendersAsync(folder, "eight", processes: 8, callers: 4, rounds: 4);

            var most = ours.Max(r => r.Most);
            output.WriteLine($"8 processes x 4 callers x 4 rounds: {ours.Sum(r => r.Served)} bodies served; at most {most} at once (per process: {string.Join(", ", ours.Select(r => r.Most))})");
            Assert.All(ours, r => Assert.Equal(16, r.Served));
            Assert.InRange(most, 2, Limit);
            await UntilAsync(async () => await KeysUnderAsync("eight/") == 0, "a contender key or .lock was left after every process ended");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task With_consul_lock_n_3_holders_in_the_mix_never_more_than_3_bodies_run_and_every_caller_is_served()
    {
        var folder = NewFolder();
        var inside = Path.Combine(folder, "inside");
        try
        {
            // Three Go loops, each taking the semaphore 5 times in a row with `consul lock -n 3`, while our 8 processes
            // of 4 callers take it too. The Go bodies record themselves in the same folder.
            var goPrefix = Prefix + "mixed";
            var goSeen = new List<int>();
            var goLoops = Enumerable.Range(0, 3).Select(loop => Task.Run(async () =>
            {
                for (var round = 0; round < 5; round++)
                {
                    var body = $"f={inside}/go-{loop}-{round}; echo x > $f; echo seen $(ls {inside} | wc -l); sleep 0.05; rm -f $f";
                    var (exit, text) = await ConsulLockAsync(goPrefix, body, limit: Limit);
                    Assert.True(exit == 0, $"consul lock -n 3 exited {exit}: {text}");
                    lock (goSeen)
                    {
                        goSeen.AddRange(text.Split('\n').Where(l => l.StartsWith("seen ", StringComparison.Ordinal)).Select(l => int.Parse(l[5..].Trim(), CultureInfo.InvariantCulture)));
                    }
                }
            })).ToArray();
            var ours = await RunContendersAsync(folder, "mixed", processes: 8, callers: 4, rounds: 3);
            await Task.WhenAll(goLoops).WaitAsync(s_generous);

            var most = Math.Max(ours.Max(r => r.Most), goSeen.Max());
            output.WriteLine($"ours: {ours.Sum(r => r.Served)} bodies, at most {ours.Max(r => r.Most)} seen; Go: {goSeen.Count} bodies, at most {goSeen.Max()} seen");
            Assert.All(ours, r => Assert.Equal(12, r.Served));
            Assert.Equal(15, goSeen.Count);
            Assert.InRange(most, 1, Limit);
            await UntilAsync(async () => await KeysUnderAsync("mixed/") == 0, "a contender key or .lock was left after every process ended");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_limit_that_differs_from_a_Go_holders_lock_is_a_conflict_and_with_the_same_limit_one_permit_is_left_beside_it()
    {
        var provider = NewProvider();
        var goPrefix = Prefix + "go-limit";
        using var go = StartConsulLock(goPrefix, "echo go-held; sleep 30", limit: 2);
        await UntilAsync(async () => await ReadKeyAsync(goPrefix + "/.lock") is not null, "consul lock -n 2 did not write .lock");

        var error = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await provider.AcquireSemaphoreAsync("go-limit", 3));
        output.WriteLine(error.Message);
        Assert.Contains("limit 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("limit 3", error.Message, StringComparison.Ordinal);

        // The same limit: one permit left beside the Go holder, then none.
        await using var first = await provider.TryAcquireSemaphoreAsync("go-limit", 2, TimeSpan.FromSeconds(10));
        Assert.NotNull(first);
        Assert.Null(await provider.TryAcquireSemaphoreAsync("go-limit", 2, TimeSpan.FromMilliseconds(500)));
        go.Kill(entireProcessTree: true);
    }

    [Fact]
    public async Task A_killed_holders_permit_goes_to_a_waiter_once_Consul_ends_its_session_and_its_entries_are_pruned()
    {
        var ttl = TimeSpan.FromSeconds(10);
        var contender = BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender");
        using var holder = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { contender, "hold-permit", Agent.Address.ToString(), Prefix, "crash", "1", "00:00:10" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var line = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.True(line?.StartsWith("held ", StringComparison.Ordinal) == true, $"holder said '{line}'");
            var words = line!.Split(' ');
            var (heldToken, heldSession) = (ulong.Parse(words[1], CultureInfo.InvariantCulture), words[2]);

            var waiting = NewProvider().AcquireSemaphoreAsync("crash", 1).AsTask();
            await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1)));
            Assert.False(waiting.IsCompleted, "the waiter got a permit while the holder was alive");

            var clock = Stopwatch.StartNew();
            holder.Kill();
            await using var permit = await waiting.WaitAsync(2 * ttl + TimeSpan.FromSeconds(30));
            output.WriteLine($"TTL 10 s: kill -9 to grant {clock.Elapsed.TotalSeconds:0.0} s (Consul ends a silent session within 2 TTL; a permit has no lock-delay)");
            Assert.True(clock.Elapsed >= ttl, $"granted {clock.Elapsed} after the kill, before one TTL");
            Assert.True(permit.FencingToken > heldToken);

            // The dead holder is pruned from .lock by the grant, and its contender key went with its session.
            var state = Encoding.UTF8.GetString(Convert.FromBase64String((await ReadKeyAsync(Prefix + "crash/.lock"))!.Value.GetProperty("Value").GetString()!));
            Assert.DoesNotContain(heldSession, state, StringComparison.Ordinal);
            Assert.Contains(permit.SessionId, state, StringComparison.Ordinal);
            Assert.Null(await ReadKeyAsync(Prefix + "crash/" + heldSession));
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill(entireProcessTree: true);
            }

            await holder.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Cancelling_at_every_moment_of_contended_acquires_leaves_nothing_behind()
    {
        // Four providers, limit 1, one holder at a time; the others cancel after 0-400 ms, so cancellations land before
        // the session exists, during the join, during the wait and during the grant.
        var providers = Enumerable.Range(0, 4).Select(_ => NewProvider()).ToArray();
        var granted = 0;
        var cancelled = 0;
        await Task.WhenAll(Enumerable.Range(0, 80).Select(i => Task.Run(async () =>
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(i % 41 * 10));
            try
            {
                await using var permit = await providers[i % 4].AcquireSemaphoreAsync("cancelled", 1, cancellationToken: cancel.Token);
                Interlocked.Increment(ref granted);
                await Task.Delay(3);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelled);
            }
        })));

        output.WriteLine($"80 acquires: {granted} granted, {cancelled} cancelled");
        Assert.Equal(80, granted + cancelled);
        Assert.True(cancelled > 0, "no acquire was cancelled: the test did not test cancellation");
        try
        {
            await UntilAsync(async () => await KeysUnderAsync("cancelled/") == 0, "a contender key or .lock was left after cancelled acquires");
        }
        finally
        {
            var (_, left) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + Prefix + "cancelled/?recurse");
            output.WriteLine("left: " + left);
        }
        await UntilAsync(async () => providers.All(p => p.SessionIds.Count == 0), "a permit session outlived its cancelled acquire");
    }

    private async Task<ContenderResult[]> RunContendersAsync(string folder, string semaphore, int processes, int callers, int rounds)
    {
        var contender = BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender");
        var started = Enumerable.Range(0, processes).Select(_ => Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                contender, "semaphore", Agent.Address.ToString(), Prefix, semaphore, Limit.ToString(CultureInfo.InvariantCulture),
                callers.ToString(CultureInfo.InvariantCulture), rounds.ToString(CultureInfo.InvariantCulture), folder,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!).ToArray();
        try
        {
            var results = new List<ContenderResult>();
            foreach (var process in started)
            {
                using var timeout = new CancellationTokenSource(s_generous);
                var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.WaitForExitAsync(timeout.Token);
                var text = await stdout;
                Assert.True(process.ExitCode == 0, $"contender exited {process.ExitCode}: {text} {await stderr}");
                var words = text.Trim().Split(' ');
                results.Add(new ContenderResult(int.Parse(words[1], CultureInfo.InvariantCulture), int.Parse(words[3], CultureInfo.InvariantCulture)));
            }

            return [.. results];
        }
        finally
        {
            foreach (var process in started)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
            }
        }
    }

    private static string NewFolder()
    {
        var folder = Directory.CreateTempSubdirectory("consullock-semaphore-").FullName;
        Directory.CreateDirectory(Path.Combine(folder, "inside"));
        return folder;
    }

    private Process StartConsulLock(string prefix, string child, int limit)
    {
        var start = new ProcessStartInfo(ConsulBinary.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("lock");
        start.ArgumentList.Add("-http-addr=" + Agent.Address.GetLeftPart(UriPartial.Authority));
        start.ArgumentList.Add("-n=" + limit.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(prefix);
        start.ArgumentList.Add(child);
        // consul lock runs the child with $SHELL -c; pin it, whatever shell the test host runs under.
        start.Environment["SHELL"] = "/bin/sh";
        start.Environment.Remove("CONSUL_HTTP_TOKEN");
        return Process.Start(start)!;
    }

    private async Task<(int Exit, string Output)> ConsulLockAsync(string prefix, string child, int limit)
    {
        using var process = StartConsulLock(prefix, child, limit);
        using var timeout = new CancellationTokenSource(s_generous);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private sealed record ContenderResult(int Served, int Most);
}
