using System.Globalization;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tool.Tests;

/// <summary>The README's install steps: pack the tool into a folder feed, <c>dotnet tool install</c> it, run <c>consullock</c>.</summary>
[Collection(ConsulCollection.Name)]
public sealed class ToolPackageTests(ConsulAgentFixture fixture)
{
    [Fact]
    public async Task The_packed_tool_installs_from_a_local_feed_and_runs_as_consullock()
    {
        var folder = Directory.CreateTempSubdirectory("consullock-tool-").FullName;
        try
        {
            var version = "0.1.0-local." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
            var feed = Path.Combine(folder, "feed");
            var project = Path.Combine(ConsulBinary.RepositoryRoot, "src", "Tool", "ConsulLock.Aop.Tool.csproj");
            var (packExit, packOutput) = await ChildProcess.RunAsync(
                "dotnet", ["pack", project, "-c", BuildOutput.Configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}"], TimeSpan.FromMinutes(3), folder);
            Assert.True(packExit == 0, packOutput);
            Assert.True(File.Exists(Path.Combine(feed, $"ConsulLock.Aop.Tool.{version}.nupkg")), packOutput);

            var tools = Path.Combine(folder, "tools");
            var (installExit, installOutput) = await ChildProcess.RunAsync(
                "dotnet", ["tool", "install", "--tool-path", tools, "--add-source", feed, "ConsulLock.Aop.Tool", "--version", version], TimeSpan.FromMinutes(3), folder);
            Assert.True(installExit == 0, installOutput);

            var (runExit, runOutput) = await ChildProcess.RunAsync(
                Path.Combine(tools, "consullock"), ["list", "nothing-here/"], TimeSpan.FromSeconds(60), folder,
                ("CONSUL_HTTP_ADDR", fixture.Agent.Address.ToString()), ("CONSUL_HTTP_TOKEN", null));
            Assert.True(runExit == 0, runOutput);
            Assert.Contains("No lock under 'nothing-here/' is held.", runOutput, StringComparison.Ordinal);

            var (listExit, listOutput) = await ChildProcess.RunAsync("dotnet", ["tool", "list", "--tool-path", tools], TimeSpan.FromMinutes(1), folder);
            Assert.True(listExit == 0, listOutput);
            Assert.Matches($@"(?im)^consulLock\.aop\.tool\s+{System.Text.RegularExpressions.Regex.Escape(version)}\s+consullock\s*$", listOutput);
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
