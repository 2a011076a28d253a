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
    public static Process Start(IEnumerable<string> arguments, params (string Name, string? Value)[] environment) =>
        Start(arguments, SigInt.AsOperatorHasIt, environment);

    /// <summary>
    /// Starts the tool with SIGINT as <paramref name="sigint"/> says. A process started with SIGINT ignored (a script's
    /// background job, a test runner started with <c>&amp;</c>) passes the ignore on to every child, and .NET keeps an
    /// inherited ignored SIGINT ignored, PosixSignalRegistration or not: the tool would never see Ctrl+C.
    /// <see cref="SigInt.AsOperatorHasIt"/> gives it SIGINT's default back (coreutils' <c>env --default-signal</c>)
    /// whenever this test process ignores it, as a terminal's foreground job has it.
    /// </summary>
    public static Process Start(IEnumerable<string> arguments, SigInt sigint, params (string Name, string? Value)[] environment)
    {
        var wrap = sigint switch
        {
            SigInt.Ignored => "--ignore-signal=INT",
            _ when IgnoresSigInt(Environment.ProcessId) => "--default-signal=INT",
            _ => null,
        };
        var start = new ProcessStartInfo(wrap is null ? "dotnet" : "env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (wrap is not null)
        {
            // env execs dotnet in its own process: the process id stays the tool's, for signals.
            start.ArgumentList.Add(wrap);
            start.ArgumentList.Add("dotnet");
        }

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
    public static Task InterruptAsync(Process process) => SignalAsync(process, "INT");

    /// <summary>Sends SIGTERM, as <c>kill</c> and service managers do.</summary>
    public static Task TerminateAsync(Process process) => SignalAsync(process, "TERM");

    /// <summary>
    /// Waits for a started tool to exit; past <paramref name="limit"/> it is killed and the failure says what it printed
    /// and which signals it ignored and caught (a tool deaf to SIGINT shows SIGINT among the ignored ones).
    /// </summary>
    public static async Task WaitForExitAsync(Process process, TimeSpan limit)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            var signals = SignalLines(process.Id);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException(
                $"consullock did not exit within {limit} ({signals}):\n--- stdout\n{await process.StandardOutput.ReadToEndAsync()}\n--- stderr\n{await process.StandardError.ReadToEndAsync()}");
        }
    }

    /// <summary>Whether the process <paramref name="pid"/> ignores SIGINT (Linux: bit 1 of SigIgn in /proc/pid/status).</summary>
    public static bool IgnoresSigInt(int pid) =>
        File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) is { } line
        && (ulong.Parse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) & 0b10) != 0;

    private static string SignalLines(int pid)
    {
        try
        {
            return string.Join(", ", File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("SigIgn:", StringComparison.Ordinal) || l.StartsWith("SigCgt:", StringComparison.Ordinal)));
        }
        catch (IOException)
        {
            return "no /proc status";
        }
    }

    private static async Task SignalAsync(Process process, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }
}

/// <summary>How a started tool finds SIGINT.</summary>
public enum SigInt
{
    /// <summary>At its default, as in a terminal's foreground job, whatever the test run's own disposition.</summary>
    AsOperatorHasIt,

    /// <summary>Ignored, as a script's background job (or anything started by one) has it.</summary>
    Ignored,
}
