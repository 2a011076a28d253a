using System.Globalization;
using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>
/// The scheduled-jobs sample as issue 19 asks: three instances whose timers fire 0, 1.5 and 3 s apart, a 1 s job,
/// three firings 10 s apart of a cron BackgroundService and of a Quartz.NET job. With MinHold (10 s, the period: contract section 7 and issue 19's acceptance) every firing runs
/// exactly once; without it, the instances whose timers fire after the first run ended run the firing again, which
/// is the proof that MinHold is what makes it work.
/// </summary>
public sealed partial class ScheduledJobsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Firings = 3;

    // The skew between timers is larger than the job (1 s) without being near MinHold (10 s): without MinHold a later
    // timer finds the key free again by a margin of 0.5 s at least; with it, held by a margin of 5 s.
    private static readonly (string Instance, string Skew)[] s_instances = [("a", "0"), ("b", "1.5"), ("c", "3")];

    // Time for six processes to start on two cores before the first firing.
    private static readonly TimeSpan s_startUp = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);

    private ConsulAgent? _agent;
    private string? _records;

    [Fact]
    public async Task With_MinHold_every_firing_of_both_jobs_runs_exactly_once_and_without_it_a_late_timer_runs_a_firing_again()
    {
        // Both scenarios at once, each under its own key prefix and records folder: one wait for the schedule, not two.
        // The cron's seconds field starts at the first firing, so the run does not wait for a round 10 s.
        var first = DateTimeOffset.UtcNow + s_startUp;
        first = new DateTimeOffset(first.Year, first.Month, first.Day, first.Hour, first.Minute, first.Second, TimeSpan.Zero);
        var cron = $"{first.Second % 10}/10 * * * * ?";
        var withMinHold = RunScenarioAsync("with-min-hold", first, cron, minHold: true);
        var withoutMinHold = RunScenarioAsync("without-min-hold", first, cron, minHold: false);
        var (withExit, withVerdict) = await withMinHold;
        var (withoutExit, withoutVerdict) = await withoutMinHold;
        output.WriteLine(withVerdict);
        output.WriteLine(withoutVerdict);

        Assert.True(withExit == 0, withVerdict);
        Assert.Contains($"report (Cronos BackgroundService): {Firings} of {Firings} firings ran exactly once", withVerdict, StringComparison.Ordinal);
        Assert.Contains($"cleanup (Quartz.NET job): {Firings} of {Firings} firings ran exactly once", withVerdict, StringComparison.Ordinal);
        Assert.Contains("PASS: every firing of every job ran exactly once.", withVerdict, StringComparison.Ordinal);

        Assert.True(withoutExit == 1, withoutVerdict);
        foreach (var job in new[] { "report (Cronos BackgroundService)", "cleanup (Quartz.NET job)" })
        {
            var line = Regex.Match(withoutVerdict, Regex.Escape(job) + @": (?<once>\d+) of (?<all>\d+) firings ran exactly once");
            Assert.True(line.Success, withoutVerdict);
            Assert.Equal(Firings, int.Parse(line.Groups["all"].Value, CultureInfo.InvariantCulture));
            Assert.True(int.Parse(line.Groups["once"].Value, CultureInfo.InvariantCulture) < Firings, withoutVerdict);
        }

        Assert.Matches(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ran [23] times: a from .* with token \d+, b from", withoutVerdict);
        Assert.DoesNotContain("ran not at all", withoutVerdict, StringComparison.Ordinal);
        Assert.Matches(@"FAIL: of 6 firings, [1-6] ran more than once and 0 not at all\.", withoutVerdict);
    }

    /// <summary>Runs the three instances of one scenario at once, checks that each took part in every firing, and returns the verdict.</summary>
    private async Task<(int ExitCode, string Verdict)> RunScenarioAsync(string name, DateTimeOffset first, string cron, bool minHold)
    {
        var dll = SampleProcess.PathOf("ScheduledJobs", "ScheduledJobs");
        var records = Path.Combine(_records!, name);
        var environment = ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString());
        var runs = await Task.WhenAll(s_instances.Select(i => SampleProcess.RunAsync(
            dll,
            [
                $"--ScheduledJobs:Instance={i.Instance}", $"--ScheduledJobs:ClockSkew={i.Skew}", "--ScheduledJobs:JobLength=1",
                $"--ScheduledJobs:Cron={cron}", $"--ScheduledJobs:From={first:O}", $"--ScheduledJobs:Firings={Firings}",
                $"--ScheduledJobs:MinHold={minHold}", $"--ScheduledJobs:Records={records}", $"--ConsulLock:KeyPrefix=scheduled-jobs-test/{name}",
            ],
            s_limit,
            environment)));

        foreach (var ((exitCode, text), (instance, _)) in runs.Zip(s_instances))
        {
            Assert.True(exitCode == 0, $"{name}, instance {instance}:\n{text}");
            Assert.Contains($"[{instance}] ready: ", text, StringComparison.Ordinal);
            Assert.DoesNotContain($"[{instance}] late: ", text, StringComparison.Ordinal);
            foreach (var job in new[] { "report", "cleanup" })
            {
                // Every instance's timer fired every firing: it ran it or skipped it, so "exactly once" is not for want of contenders.
                var fired = FiringLine().Matches(text).Where(m => m.Groups["instance"].Value == instance && m.Groups["job"].Value == job);
                Assert.True(fired.Select(m => m.Groups["firing"].Value).Distinct().Count() == Firings, $"{name}, instance {instance}, {job}:\n{text}");
            }
        }

        var (verdictExit, verdict) = await SampleProcess.RunAsync(dll, ["verdict", $"--ScheduledJobs:Records={records}"], s_limit, environment);
        Assert.Contains("Verdict, from the records of 3 instances (a, b, c):", verdict, StringComparison.Ordinal);
        return (verdictExit, $"{name}:\n{verdict}");
    }

    [GeneratedRegex(@"\[(?<instance>\w+)\] (?<job>\w+) (?<firing>\d\d:\d\d:\d\dZ): (running|skipped)")]
    private static partial Regex FiringLine();

    public async Task InitializeAsync()
    {
        _records = Directory.CreateTempSubdirectory("consullock-scheduled-jobs-").FullName;
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
