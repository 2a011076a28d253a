using System.Diagnostics;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tool.Tests;

/// <summary>What one run of the tool printed and exited with.</summary>
public sealed record ToolRun(int ExitCode, string Output, string Error)
{
    public string All => Output + Error;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

/// <summary>
/// Runs the built tool (<c>dotnet ConsulLock.Aop.Tool.dll</c>) as an operator would, in a clean environment: no
/// CONSUL_HTTP_ADDR or CONSUL_HTTP_TOKEN is inherited from the test run unless a test gives one.
/// </summary>
public static class Consullock
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(60);

    public static string Dll => BuildOutput.PathOf(Path.Combine("src", "Tool"), "ConsulLock.Aop.Tool");

    public static Task<ToolRun> RunAsync(ConsulAgent agent, params string[] arguments) =>
        RunAsync(arguments, ("CONSUL_HTTP_ADDR", agent.Address.ToString()));

    public static async Task<ToolRun> RunAsync(IEnumerable<string> arguments, params (string Name, string? Value)[] environment)
    {
        using var process = Start(arguments, environment);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(s_limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"consullock {string.Join(' ', arguments)} did not finish within {s_limit}:\n{await output}\n{await error}");
        }

        return new ToolRun(process.ExitCode, await output, await error);
    }

    /// <summary>Starts the tool and leaves it running (for <c>watch</c>); the caller reads its output and ends it.</summary>
    public static Process Start(IEnumerable<string> arguments, params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("CONSUL_HTTP_ADDR");
        start.Environment.Remove("CONSUL_HTTP_TOKEN");
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    /// <summary>Sends SIGINT, as Ctrl+C in a terminal does.</summary>
    public static async Task InterruptAsync(Process process)
    {
        using var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }
}
