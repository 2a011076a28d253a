using System.Diagnostics;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class CrossProcessTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task Two_processes_contending_on_one_key_never_overlap()
    {
        const int Rounds = 100;
        var folder = Directory.CreateTempSubdirectory("consullock-cross-").FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "counter"), "0");
        var contender = ContenderPath();

        var processes = Enumerable.Range(0, 2).Select(_ => Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { contender, Agent.Address.ToString(), Prefix, Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), folder },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!).ToArray();
        try
        {
            foreach (var process in processes)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                await process.WaitForExitAsync(timeout.Token);
                var error = await process.StandardError.ReadToEndAsync();
                Assert.True(process.ExitCode == 0, $"contender exited {process.ExitCode}: {error}");
            }

            Assert.Equal((2 * Rounds).ToString(System.Globalization.CultureInfo.InvariantCulture), await File.ReadAllTextAsync(Path.Combine(folder, "counter")));
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
            }

            Directory.Delete(folder, recursive: true);
        }
    }

    private static string ContenderPath() => BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender");
}
