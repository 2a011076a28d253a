using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// Packs ConsulLock.Aop into a local folder feed and builds projects that reference only that package: proof that the
/// generator really ships inside it and works in a user's build (warnings as errors, nullable on), and that mistakes
/// fail a real build with their CLA ids, with analyzers on and off and with severities lowered.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class PackageConsumerTests(ConsulAgentFixture fixture, PackedPackage package)
    : IClassFixture<PackedPackage>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("consullock-consumer-").FullName;

    [Fact]
    public async Task A_project_that_references_only_the_package_builds_and_runs_the_example()
    {
        var consumer = await WriteConsumerAsync("Program.cs.template");
        var output = await RunAsync(
            "dotnet", ["run", "-c", "Release"], consumer,
            ("CONSUL_HTTP_ADDR", (string?)fixture.Agent.Address.ToString()), ("CONSUMER_PREFIX", "consumer/" + package.Version + "/"));
        Assert.Contains($"held consumer/{package.Version}/webhook_receiver/42 with fencing token", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_package_carries_its_license_urls_readme_and_symbols()
    {
        Assert.True(File.Exists(Path.Combine(package.Feed, $"ConsulLock.Aop.{package.Version}.snupkg")), "the symbol package was not produced");
        using var nupkg = System.IO.Compression.ZipFile.OpenRead(Path.Combine(package.Feed, $"ConsulLock.Aop.{package.Version}.nupkg"));
        using var nuspec = new StreamReader(nupkg.GetEntry("ConsulLock.Aop.nuspec")!.Open());
        var metadata = await nuspec.ReadToEndAsync();
        Assert.Contains("<license type=\"expression\">MIT</license>", metadata, StringComparison.Ordinal);
        Assert.Contains("<projectUrl>https://github.com/consullock/ConsulLock.Aop</projectUrl>", metadata, StringComparison.Ordinal);
        Assert.Contains("<repository type=\"git\" url=\"https://github.com/consullock/ConsulLock.Aop\"", metadata, StringComparison.Ordinal);
        Assert.Contains("<readme>README.md</readme>", metadata, StringComparison.Ordinal);
        Assert.NotNull(nupkg.GetEntry("README.md"));
    }

    [Fact]
    public async Task Mistakes_fail_a_real_build_with_their_ids_and_the_compiler_adds_only_what_CLA002_implies()
    {
        var consumer = await WriteConsumerAsync("Misuse.cs.template");
        var (exitCode, output) = await ChildProcess.RunAsync("dotnet", ["build", "-c", "Release", "-clp:NoSummary"], TimeSpan.FromMinutes(4), consumer);

        Assert.NotEqual(0, exitCode);
        foreach (var id in new[] { "CLA002", "CLA003", "CLA013", "CLA014", "CLA015" })
        {
            Assert.Contains($"error {id}:", output, StringComparison.Ordinal);
        }

        Assert.Contains("error CLA015: 'TwoAsync' could take its lock provider from the parameter 'first' or the parameter 'second'", output, StringComparison.Ordinal);

        // A partial method in a type that cannot be reopened has no implementation: C# says so itself (CS8795).
        var compilerErrors = ErrorIds(output).Where(id => id.StartsWith("CS", StringComparison.Ordinal)).Distinct().ToList();
        Assert.True(compilerErrors.All(id => id == "CS8795"), string.Join(", ", compilerErrors) + "\n" + output);
    }

    [Fact]
    public async Task Mistakes_fail_a_real_build_with_analyzers_off_and_severities_lowered()
    {
        var consumer = await WriteConsumerAsync("Misuse.cs.template");
        await File.WriteAllTextAsync(Path.Combine(consumer, ".editorconfig"), """
            root = true

            [*.cs]
            dotnet_diagnostic.CLA003.severity = none
            dotnet_diagnostic.CLA013.severity = none
            """);
        var (exitCode, output) = await ChildProcess.RunAsync(
            "dotnet", ["build", "-c", "Release", "-clp:NoSummary", "-p:RunAnalyzers=false", "-p:NoWarn=CLA014%3BCLA015", "-p:EmitCompilerGeneratedFiles=true"], TimeSpan.FromMinutes(4), consumer);
        var generated = string.Join("\n", Directory.GetFiles(Path.Combine(consumer, "obj"), "*.g.cs", SearchOption.AllDirectories).Select(File.ReadAllText));

        Assert.NotEqual(0, exitCode);
        foreach (var id in new[] { "CLA002", "CLA003", "CLA013", "CLA014", "CLA015" })
        {
            // Our diagnostic (an .editorconfig severity does not reach the generator's errors), or, where NoWarn
            // silenced it, the compiler error the generated file repeats it as.
            Assert.True(
                output.Contains($"error {id}:", StringComparison.Ordinal) || output.Contains($"is obsolete: '{id}:", StringComparison.Ordinal),
                $"{id} did not fail the build:\n{output}\n{generated}");
        }
    }

    private Task<string> WriteConsumerAsync(string program) =>
        // Outside the repository, so the consumer inherits none of our build settings, as a user's project would.
        Task.FromResult(package.Packed.CreateConsumer(
            "Consumer", Path.Combine(AppContext.BaseDirectory, "PackageConsumer"), program,
            Path.Combine(_folder, Path.GetFileNameWithoutExtension(program).Replace(".cs", "", StringComparison.Ordinal))));

    private static IEnumerable<string> ErrorIds(string output) =>
        System.Text.RegularExpressions.Regex.Matches(output, @"error (?<id>[A-Z]+[0-9]+):").Select(m => m.Groups["id"].Value);

    private static async Task<string> RunAsync(string file, string[] arguments, string directory, params (string Name, string? Value)[] environment)
    {
        var (exitCode, output) = await ChildProcess.RunAsync(file, arguments, TimeSpan.FromMinutes(4), directory, environment);
        Assert.True(exitCode == 0, $"{file} {string.Join(' ', arguments)} exited {exitCode}:\n{output}");
        return output;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

/// <summary>ConsulLock.Aop packed once into a folder feed under a version of its own, for every consumer build of the class.</summary>
public sealed class PackedPackage : IAsyncLifetime
{
    private LocalPackageFeed? _packed;

    public string Version => Packed.Version;

    public string Feed => Packed.Feed;

    public LocalPackageFeed Packed => _packed ?? throw new InvalidOperationException("The package has not been packed yet.");

    public async Task InitializeAsync() => _packed = await LocalPackageFeed.PackAsync();

    public Task DisposeAsync()
    {
        _packed?.Dispose();
        return Task.CompletedTask;
    }
}
