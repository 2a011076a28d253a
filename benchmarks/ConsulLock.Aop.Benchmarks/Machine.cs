using System.Diagnostics;
using System.Runtime.InteropServices;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>What the figures were measured on.</summary>
internal sealed record Machine(int Processors, string Cpu, string Os, string Runtime, string Consul)
{
    public static async Task<Machine> DescribeAsync(CancellationToken cancellationToken) => new(
        Environment.ProcessorCount, CpuModel(), RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
        await ConsulVersionAsync(cancellationToken));

    /// <summary>The first line of <c>consul version</c>, for example <c>Consul v1.8.7</c>.</summary>
    private static async Task<string> ConsulVersionAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ConsulBinary.Path, ["version"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var consul = Process.Start(start) ?? throw new InvalidOperationException("Could not run consul version.");
        var output = await consul.StandardOutput.ReadToEndAsync(cancellationToken);
        await consul.WaitForExitAsync(cancellationToken);
        return output.Split('\n', 2)[0].Trim();
    }

    /// <summary>The 1-minute load average, or "?" off Linux: it tells whether something else shared the CPUs.</summary>
    public static string LoadAverage()
    {
        const string loadAvg = "/proc/loadavg";
        return File.Exists(loadAvg) ? File.ReadAllText(loadAvg).Split(' ')[0] : "?";
    }

    private static string CpuModel()
    {
        const string cpuInfo = "/proc/cpuinfo";
        var line = File.Exists(cpuInfo) ? File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
        return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
    }
}

internal static class Progress
{
    /// <summary>Progress goes to stderr, so stdout carries only the report.</summary>
    public static void Write(FormattableString message) =>
        Console.Error.WriteLine("  " + message.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
