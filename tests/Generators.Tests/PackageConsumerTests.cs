using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// Packs ConsulLock.Aop into a local folder feed and builds and runs a project that references only that package:
/// proof that the generator really ships inside it and works in a user's build (warnings as errors, nullable on).
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class PackageConsumerTests(ConsulAgentFixture fixture) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("consullock-consumer-").FullName;

    [Fact]
    public async Task A_project_that_references_only_the_package_builds_and_runs_the_example()
    {
        var version = "0.1.0-local." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var feed = Path.Combine(_folder, "feed");
        var project = Path.Combine(ConsulBinary.RepositoryRoot, "src", "Runtime", "ConsulLock.Aop.csproj");
        await RunAsync("dotnet", ["pack", project, "-c", BuildOutput.Configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}"], _folder);
        Assert.True(File.Exists(Path.Combine(feed, $"ConsulLock.Aop.{version}.nupkg")), "the package was not produced");
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
        var consumer = Path.Combine(_folder, "consumer");
        Directory.CreateDirectory(consumer);
        var templates = Path.Combine(AppContext.BaseDirectory, "PackageConsumer");
        await File.WriteAllTextAsync(Path.Combine(consumer, "Consumer.csproj"), (await File.ReadAllTextAsync(Path.Combine(templates, "Consumer.csproj.template"))).Replace("$VERSION$", version, StringComparison.Ordinal));
        File.Copy(Path.Combine(templates, "Program.cs.template"), Path.Combine(consumer, "Program.cs"));
        await File.WriteAllTextAsync(Path.Combine(consumer, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        File.Copy(Path.Combine(ConsulBinary.RepositoryRoot, "global.json"), Path.Combine(consumer, "global.json"));

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

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
