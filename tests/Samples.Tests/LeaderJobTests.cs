using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>The leader-job sample against one agent: DI, configuration, the imperative API, Skip and OpenTelemetry.</summary>
public sealed partial class LeaderJobTests : IAsyncLifetime
{
    private ConsulAgent? _agent;

    [Fact]
    public async Task Two_instances_each_migrate_once_and_every_tick_either_leads_or_skips()
    {
        var dll = SampleProcess.PathOf("LeaderJob", "LeaderJob");
        var environment = ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString());
        var runs = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => SampleProcess.RunAsync(dll, ["--LeaderJob:Runs=3"], TimeSpan.FromSeconds(60), environment)));

        var tokens = new List<string>();
        foreach (var (exitCode, output) in runs)
        {
            Assert.True(exitCode == 0, output);
            Assert.Single(MigrationLine().Matches(output));
            var led = LeaderLine().Matches(output);
            var skipped = SkipLine().Count(output);
            Assert.Equal(3, led.Count + skipped);

            // Each skip the sample saw in RunAsync's false is also the library's: one log event and the skips counter.
            Assert.Equal(skipped, SkipEvent().Count(output));
            if (skipped > 0)
            {
                Assert.Contains("Metric Name: consullock.skips", output, StringComparison.Ordinal);
            }

            tokens.AddRange(led.Select(m => m.Groups["token"].Value));
        }

        Assert.NotEmpty(tokens);
        Assert.Equal(tokens.Count, tokens.Distinct().Count()); // every run of the job had its own grant of the lock
    }

    [Fact]
    public async Task The_library_traces_and_metrics_reach_OpenTelemetry_s_console_exporter()
    {
        var (exitCode, output) = await SampleProcess.RunAsync(
            SampleProcess.PathOf("LeaderJob", "LeaderJob"), ["--LeaderJob:Runs=2"], TimeSpan.FromSeconds(60), ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString()));

        Assert.True(exitCode == 0, output);
        Assert.Matches(@"Activity\.DisplayName:\s+ConsulLock\.Acquire", output);
        Assert.Contains("consullock.key: leader-job-sample/schema-migration", output, StringComparison.Ordinal);
        Assert.Contains("consullock.outcome: acquired", output, StringComparison.Ordinal);
        Assert.Contains("Metric Name: consullock.acquire.duration, Description: Time from an acquire call to its outcome., Unit: s", output, StringComparison.Ordinal);
        Assert.Contains("Metric Name: consullock.hold.duration", output, StringComparison.Ordinal);
        Assert.Contains("(0.001,0.0025]", output, StringComparison.Ordinal); // buckets in seconds, not OpenTelemetry's millisecond defaults
    }

    [Fact]
    public async Task With_telemetry_off_nothing_is_exported()
    {
        var (exitCode, output) = await SampleProcess.RunAsync(
            SampleProcess.PathOf("LeaderJob", "LeaderJob"), ["--LeaderJob:Runs=1", "--LeaderJob:Telemetry=false"], TimeSpan.FromSeconds(60), ("CONSUL_HTTP_ADDR", (string?)_agent!.Address.ToString()));

        Assert.True(exitCode == 0, output);
        Assert.Single(MigrationLine().Matches(output));
        Assert.DoesNotContain("Activity.DisplayName", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Metric Name", output, StringComparison.Ordinal);
    }

    [GeneratedRegex("migrating the schema under 'leader-job-sample/schema-migration'")]
    private static partial Regex MigrationLine();

    [GeneratedRegex(@"this instance is the leader for [0-9-]+: building the report \(fencing token (?<token>\d+)\)")]
    private static partial Regex LeaderLine();

    [GeneratedRegex("another instance holds the report lock: skipping this tick")]
    private static partial Regex SkipLine();

    [GeneratedRegex(@"Skipped the body of a \[ConsulLocked\] method: the lock leader-job-sample/reports/[0-9-]+ was held elsewhere for 0s")]
    private static partial Regex SkipEvent();

    public async Task InitializeAsync() => _agent = await ConsulAgent.StartDevAsync();

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
    }
}
