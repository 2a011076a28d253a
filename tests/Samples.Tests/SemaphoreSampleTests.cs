using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>
/// The semaphores sample: four instances, each starting six 1 s exports of one tenant at once, with
/// <c>[ConsulSemaphore("exports/{tenant}", Limit = 3)]</c>, and Consul's own Go client (<c>consul lock -n 3</c> running
/// the sample's consul-lock-export.sh) taking permits of the same semaphore in between. The verdict, read from what
/// the bodies recorded, must say that at most 3 ran at once, that all of them ran, and that more than one ran at once
/// (the semaphore is not a mutex).
/// </summary>
public sealed partial class SemaphoreSampleTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Instances = 4;
    private const int JobsPerInstance = 6;
    private const int GoRuns = 2;
    private const string KeyPrefix = "semaphores-test/";

    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);

    private ConsulAgent? _agent;
    private string? _records;

    [Fact]
    public async Task Four_instances_and_a_consul_lock_holder_never_run_more_than_3_exports_at_once_and_run_every_export()
    {
        var dll = SampleProcess.PathOf("Semaphores", "Semaphores");
        var environment = ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString());
        var names = Enumerable.Range(0, Instances).Select(i => ((char)('a' + i)).ToString()).ToList();
        var instances = names.Select(name => SampleProcess.RunAsync(
            dll,
            [$"--Exports:Instance={name}", $"--Exports:Jobs={JobsPerInstance}", "--Exports:JobLength=1", "--Exports:Tenant=acme",
             $"--Exports:Records={_records}", $"--ConsulLock:KeyPrefix={KeyPrefix}"],
            s_limit,
            environment)).ToList();
        var go = RunConsulLockExportsAsync(Path.Combine(Path.GetDirectoryName(dll)!, "consul-lock-export.sh"));

        var runs = await Task.WhenAll(instances);
        var goOutput = await go;
        foreach (var ((exitCode, text), name) in runs.Zip(names))
        {
            Assert.True(exitCode == 0, $"instance {name}:\n{text}");
            Assert.Contains($"[{name}] ready: {JobsPerInstance} exports of acme", text, StringComparison.Ordinal);
            Assert.Contains($"[{name}] done: {JobsPerInstance} exports ran", text, StringComparison.Ordinal);
            Assert.Equal(JobsPerInstance, RunningLine().Matches(text).Count(m => m.Groups["instance"].Value == name));
        }

        Assert.Equal(GoRuns, goOutput.Count(line => line.StartsWith("[consul-lock] export ", StringComparison.Ordinal)));

        var (verdictExit, verdict) = await SampleProcess.RunAsync(dll, ["verdict", $"--Exports:Records={_records}"], s_limit, environment);
        output.WriteLine(verdict);
        var jobs = Instances * JobsPerInstance + GoRuns;
        Assert.True(verdictExit == 0, verdict);
        Assert.Contains("Verdict, from the records of 5 instances (a, b, c, consul-lock, d):", verdict, StringComparison.Ordinal);
        var line = VerdictLine().Match(verdict);
        Assert.True(line.Success, verdict);
        Assert.Equal($"{jobs} of {jobs}", line.Groups["ran"].Value);
        var peak = int.Parse(line.Groups["peak"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(peak, 2, 3); // never over the limit, and more than one at once: a semaphore, not a mutex

        // The Go client's permits counted against the same limit while ours ran: a consul-lock export overlapped ours.
        var bodies = ReadBodies(_records!);
        var goBodies = bodies.Where(b => b.Instance == "consul-lock").ToList();
        Assert.Equal(GoRuns, goBodies.Count);
        Assert.Contains(goBodies, g => bodies.Any(b => b.Instance != "consul-lock" && b.Start < g.End && g.Start < b.End));
    }

    [Fact]
    public async Task With_a_key_prefix_per_instance_the_instances_do_not_share_the_semaphore_and_the_verdict_fails()
    {
        // The misconfiguration the verdict is there to catch: each instance's semaphore is its own, so each runs 3
        // exports at once and together they run more. The 4 s exports make the instances' runs overlap however slowly
        // the processes start.
        var dll = SampleProcess.PathOf("Semaphores", "Semaphores");
        var environment = ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString());
        var runs = await Task.WhenAll(new[] { "a", "b" }.Select(name => SampleProcess.RunAsync(
            dll,
            [$"--Exports:Instance={name}", "--Exports:Jobs=3", "--Exports:JobLength=4", $"--Exports:Records={_records}", $"--ConsulLock:KeyPrefix={KeyPrefix}{name}/"],
            s_limit,
            environment)));
        Assert.All(runs, run => Assert.True(run.ExitCode == 0, run.Output));

        var (verdictExit, verdict) = await SampleProcess.RunAsync(dll, ["verdict", $"--Exports:Records={_records}"], s_limit, environment);
        output.WriteLine(verdict);
        Assert.True(verdictExit == 1, verdict);
        Assert.Matches(@"\d\d:\d\d:\d\d\.\d{3}: 4 exports running at once, over the limit of 3", verdict);
        var line = Regex.Match(verdict, @"at most 3 exports at once \(limit 3\): FAIL; 6 of 6 jobs ran; peak concurrency (?<peak>\d+); over the limit \d+ times?");
        Assert.True(line.Success, verdict);
        Assert.InRange(int.Parse(line.Groups["peak"].Value, CultureInfo.InvariantCulture), 4, 6);
    }

    /// <summary>
    /// Consul's Go client in the mix: <see cref="GoRuns"/> exports one after another, each under <c>consul lock -n 3</c>
    /// on the instances' prefix, started while the instances run. Returns the children's output lines.
    /// </summary>
    private async Task<List<string>> RunConsulLockExportsAsync(string script)
    {
        // Into the mix: the first run starts once one of ours holds a permit, not before the instances are up.
        await FirstBodyStartedAsync();
        var lines = new List<string>();
        for (var job = 1; job <= GoRuns; job++)
        {
            var (exitCode, text) = await ChildProcess.RunAsync(
                ConsulBinary.Path,
                ["lock", "-n=3", "-http-addr=" + _agent!.Address.GetLeftPart(UriPartial.Authority), KeyPrefix + "exports/acme",
                 $"sh {script} {_records} consul-lock {job.ToString(CultureInfo.InvariantCulture)} 1"],
                s_limit,
                null,
                ("SHELL", "/bin/sh"), // consul lock runs its child with $SHELL -c: pin it, whatever shell the test host runs under
                ("CONSUL_HTTP_TOKEN", null));
            Assert.True(exitCode == 0, $"consul lock -n 3 exited {exitCode}: {text}");
            lines.AddRange(text.Split('\n'));
        }

        return lines;
    }

    private async Task FirstBodyStartedAsync()
    {
        using var timeout = new CancellationTokenSource(s_limit);
        while (!Directory.EnumerateFiles(_records!, "*.jsonl").Any(file => File.ReadLines(file).Any(line => line.Contains("\"Kind\":\"start\"", StringComparison.Ordinal))))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), timeout.Token); // polls the records for their first start
        }
    }

    /// <summary>Each body in the records: who ran it, from when to when.</summary>
    private static List<(string Instance, int Job, DateTimeOffset Start, DateTimeOffset End)> ReadBodies(string folder)
    {
        var records = Directory.EnumerateFiles(folder, "*.jsonl").SelectMany(File.ReadLines).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Select(r => (Kind: r.GetProperty("Kind").GetString(), Instance: r.GetProperty("Instance").GetString()!, Job: r.GetProperty("Job").GetInt32(), At: r.GetProperty("At").GetDateTimeOffset()))
            .ToList();
        var ends = records.Where(r => r.Kind == "end").ToDictionary(r => (r.Instance, r.Job), r => r.At);
        return records.Where(r => r.Kind == "start").Select(r => (r.Instance, r.Job, r.At, ends[(r.Instance, r.Job)])).ToList();
    }

    [GeneratedRegex(@"\[(?<instance>\w+)\] export \d+ of acme: running, holding a permit of 'semaphores-test/exports/acme' \(session [0-9a-f-]+, fencing token \d+\)")]
    private static partial Regex RunningLine();

    [GeneratedRegex(@"at most 3 exports at once \(limit 3\): PASS; (?<ran>\d+ of \d+) jobs ran; peak concurrency (?<peak>\d+)")]
    private static partial Regex VerdictLine();

    public async Task InitializeAsync()
    {
        _records = Directory.CreateTempSubdirectory("consullock-semaphores-").FullName;
        _agent = await ConsulAgent.StartDevAsync();
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (_records is not null)
        {
            Directory.Delete(_records, recursive: true);
        }
    }
}
