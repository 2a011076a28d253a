using System.Globalization;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// ConsulLock.Aop packed into a folder feed under a fresh version, and a consumer folder that restores from it (and
/// the public registry for everything else), outside the repository so it inherits none of our build settings.
/// </summary>
public sealed class LocalPackageFeed : IDisposable
{
    private LocalPackageFeed(string folder, string version)
    {
        Folder = folder;
        Version = version;
    }

    /// <summary>A temporary folder holding the feed; deleted on dispose.</summary>
    public string Folder { get; }

    public string Version { get; }

    public string Feed => Path.Combine(Folder, "feed");

    /// <summary>Packs src/Runtime (already built in this configuration) into a new feed.</summary>
    public static async Task<LocalPackageFeed> PackAsync()
    {
        var version = "0.1.0-local." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
        var feed = new LocalPackageFeed(Directory.CreateTempSubdirectory("consullock-feed-").FullName, version);
        var project = Path.Combine(ConsulBinary.RepositoryRoot, "src", "Runtime", "ConsulLock.Aop.csproj");
        var (exitCode, output) = await ChildProcess.RunAsync(
            "dotnet", ["pack", project, "-c", BuildOutput.Configuration, "--no-build", "-o", feed.Feed, $"-p:PackageVersion={version}"], TimeSpan.FromMinutes(3), feed.Folder).ConfigureAwait(false);
        if (exitCode != 0 || !File.Exists(Path.Combine(feed.Feed, $"ConsulLock.Aop.{version}.nupkg")))
        {
            feed.Dispose();
            throw new InvalidOperationException($"dotnet pack did not produce the package (exit {exitCode}):\n{output}");
        }

        return feed;
    }

    /// <summary>
    /// Creates the consumer project <paramref name="project"/> in the feed's folder (in <paramref name="folder"/> when
    /// given) from <c>&lt;templates&gt;/&lt;project&gt;.csproj.template</c> (its <c>$VERSION$</c> replaced by the
    /// package's version) and <c>&lt;templates&gt;/&lt;program&gt;</c>, with a NuGet.config and the repository's
    /// global.json; returns its folder.
    /// </summary>
    public string CreateConsumer(string project, string templates, string program = "Program.cs.template", string? folder = null)
    {
        var consumer = folder ?? Path.Combine(Folder, project);
        Directory.CreateDirectory(consumer);
        File.WriteAllText(
            Path.Combine(consumer, project + ".csproj"),
            File.ReadAllText(Path.Combine(templates, project + ".csproj.template")).Replace("$VERSION$", Version, StringComparison.Ordinal));
        File.Copy(Path.Combine(templates, program), Path.Combine(consumer, "Program.cs"));
        File.WriteAllText(Path.Combine(consumer, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        File.Copy(Path.Combine(ConsulBinary.RepositoryRoot, "global.json"), Path.Combine(consumer, "global.json"));
        return consumer;
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
