using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// Packs ConsulLock.Aop into a local folder feed and builds and runs a project that references only that package:
/// proof that the generator really ships inside it and works in a user's build (warnings as errors, nullable on).
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class PackageConsumerTests(ConsulAgentFixture fixture)
{
    [Fact]
    public async Task A_project_that_references_only_the_package_builds_and_runs_the_example()
    {
        using var packed = await LocalPackageFeed.PackAsync();
        var version = packed.Version;
        var feed = packed.Feed;
        Assert.True(File.Exists(Path.Combine(feed, $"ConsulLock.Aop.{version}.snupkg")), "the symbol package was not produced");
        using (var package = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"ConsulLock.Aop.{version}.nupkg")))
        {
            using var nuspec = new StreamReader(package.GetEntry("ConsulLock.Aop.nuspec")!.Open());
            var metadata = await nuspec.ReadToEndAsync();
            Assert.Contains("<license type=\"expression\">MIT</license>", metadata, StringComparison.Ordinal);
            Assert.Contains("<projectUrl>https://github.com/consullock/ConsulLock.Aop</projectUrl>", metadata, StringComparison.Ordinal);
            Assert.Contains("<repository type=\"git\" url=\"https://github.com/consullock/ConsulLock.Aop\"", metadata, StringComparison.Ordinal);
            Assert.Contains("<readme>README.md</readme>", metadata, StringComparison.Ordinal);
            Assert.NotNull(package.GetEntry("README.md"));
        }

        // Outside the repository, so the consumer inherits none of our build settings, as a user's project would.
        var consumer = packed.CreateConsumer("Consumer", Path.Combine(AppContext.BaseDirectory, "PackageConsumer"));

        var output = await RunAsync(
            "dotnet", ["run", "-c", "Release"], consumer,
            ("CONSUL_HTTP_ADDR", (string?)fixture.Agent.Address.ToString()), ("CONSUMER_PREFIX", "consumer/" + version + "/"));
        Assert.Contains($"held consumer/{version}/webhook_receiver/42 with fencing token", output, StringComparison.Ordinal);
    }

    private static async Task<string> RunAsync(string file, string[] arguments, string directory, params (string Name, string? Value)[] environment)
    {
        var (exitCode, output) = await ChildProcess.RunAsync(file, arguments, TimeSpan.FromMinutes(4), directory, environment);
        Assert.True(exitCode == 0, $"{file} {string.Join(' ', arguments)} exited {exitCode}:\n{output}");
        return output;
    }
}
