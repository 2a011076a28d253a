using System.Diagnostics;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>Runs a built sample as a process and returns its exit code and output.</summary>
internal static class SampleProcess
{
    public static string PathOf(string project, string assembly)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var path = Path.Combine(ConsulBinary.RepositoryRoot, "samples", project, "bin", configuration, "net10.0", assembly + ".dll");
        Assert.True(File.Exists(path), $"the sample was not built at {path}");
        return path;
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string dll, string[] arguments, TimeSpan limit, params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(dll)} did not finish within {limit}:\n{await stdout}\n{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
