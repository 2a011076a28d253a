using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Aot.Tests;

/// <summary>
/// The package says it is AOT-compatible; this keeps it so. A consumer of the packed nupkg is published with
/// <c>PublishAot=true</c>, every trim and AOT warning an error, and the native binary runs against a real agent.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed partial class AotPublishTests(ConsulAgentFixture fixture, ITestOutputHelper log)
{
    [Fact]
    public async Task A_Native_AOT_consumer_of_the_package_publishes_without_warnings_and_locks_against_Consul()
    {
        Assert.True(ClangIsInstalled(), "Native AOT links with clang, and none is on PATH (clang or clang-NN): install it (Debian: apt-get install clang) and run again.");
        using var feed = await LocalPackageFeed.PackAsync();
        var consumer = feed.CreateConsumer("AotConsumer", Path.Combine(AppContext.BaseDirectory, "AotConsumer"));

        var clock = Stopwatch.StartNew();
        var publish = Path.Combine(consumer, "publish");
        var (exitCode, output) = await ChildProcess.RunAsync(
            "dotnet", ["publish", "-c", "Release", "-r", "linux-x64", "-o", publish, "-v", "minimal"], TimeSpan.FromMinutes(6), consumer);
        log.WriteLine($"dotnet publish (Native AOT) took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(exitCode == 0, $"dotnet publish exited {exitCode}:\n{output}");
        Assert.DoesNotMatch(TrimOrAotWarning(), output);
        Assert.Contains("Generating native code", output, StringComparison.Ordinal);

        var binary = Path.Combine(publish, "AotConsumer");
        Assert.Equal("\u007fELF"u8.ToArray(), (await File.ReadAllBytesAsync(binary))[..4]);
        Assert.False(File.Exists(Path.Combine(publish, "ConsulLock.Aop.dll")), "a native publish carries no managed assemblies");

        var prefix = $"aot/{feed.Version}/";
        var (runExit, runOutput) = await ChildProcess.RunAsync(
            binary, [], TimeSpan.FromSeconds(60), consumer, ("CONSUL_HTTP_ADDR", fixture.Agent.Address.ToString()), ("CONSUMER_PREFIX", prefix));
        log.WriteLine(runOutput);
        Assert.True(runExit == 0, $"the native consumer exited {runExit}:\n{runOutput}");
        var first = Acquired().Match(runOutput);
        Assert.True(first.Success, runOutput);
        Assert.Equal(prefix + "jobs/nightly", first.Groups["key"].Value);
        var again = AcquiredAgain().Match(runOutput);
        Assert.True(again.Success, runOutput);
        Assert.True(ulong.Parse(again.Groups["token"].Value, CultureInfo.InvariantCulture) > ulong.Parse(first.Groups["token"].Value, CultureInfo.InvariantCulture), runOutput);
        Assert.Contains("released", runOutput, StringComparison.Ordinal);
        Assert.Matches($@"handled evt-1 under {Regex.Escape(prefix)}webhook_receiver/evt-1 with fencing token \d+", runOutput);
        Assert.Matches($@"permit of {Regex.Escape(prefix)}exports with fencing token \d+", runOutput);
        Assert.Contains($"exported acme under a permit of {prefix}exports/acme", runOutput, StringComparison.Ordinal);
        Assert.Contains("health: Healthy", runOutput, StringComparison.Ordinal);
    }

    private static bool ClangIsInstalled() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "clang*"))
            .Any(file => ClangName().IsMatch(Path.GetFileName(file)));

    [GeneratedRegex(@"warning IL\d{4}")]
    private static partial Regex TrimOrAotWarning();

    [GeneratedRegex(@"^clang(-\d+)?$")]
    private static partial Regex ClangName();

    [GeneratedRegex(@"acquired (?<key>\S+) with fencing token (?<token>\d+)")]
    private static partial Regex Acquired();

    [GeneratedRegex(@"acquired again with fencing token (?<token>\d+)")]
    private static partial Regex AcquiredAgain();
}
