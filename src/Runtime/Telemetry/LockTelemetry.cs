using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ConsulLock.Aop.Telemetry;

/// <summary>
/// The library's traces and metrics, both named <c>ConsulLock.Aop</c>. Instruments cost nothing measurable until a
/// listener (OpenTelemetry, dotnet-counters) subscribes.
/// </summary>
internal static class LockTelemetry
{
    public const string Name = "ConsulLock.Aop";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter s_meter = new(Name);

    /// <summary>Time from the call to AcquireAsync to its outcome, waiting included.</summary>
    public static readonly Histogram<double> AcquireDuration = s_meter.CreateHistogram<double>(
        "consullock.acquire.duration", "s", "Time from an acquire call to its outcome.");

    /// <summary>Time spent waiting because another holder had the lock.</summary>
    public static readonly Histogram<double> WaitDuration = s_meter.CreateHistogram<double>(
        "consullock.wait.duration", "s", "Time an acquire spent waiting for another holder.");

    public static readonly Histogram<double> HoldDuration = s_meter.CreateHistogram<double>(
        "consullock.hold.duration", "s", "Time a lock was held, from grant to release or loss.");

    public static readonly Counter<long> Lost = s_meter.CreateCounter<long>(
        "consullock.lost", "{lock}", "Locks lost while held.");

    /// <summary>Acquires that gave up after their wait timeout; a <c>[ConsulLocked]</c> skip counts in <see cref="Skips"/> instead.</summary>
    public static readonly Counter<long> Timeouts = s_meter.CreateCounter<long>(
        "consullock.timeouts", "{acquire}", "Acquires that gave up after their wait timeout (skips excepted).");

    /// <summary>Calls of a <c>[ConsulLocked]</c> method with <c>OnTimeout = Skip</c> that did not run their body.</summary>
    public static readonly Counter<long> Skips = s_meter.CreateCounter<long>(
        "consullock.skips", "{call}", "Calls of [ConsulLocked] methods that skipped their body: the lock was held elsewhere for their wait timeout.");

    public static double Seconds(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
}
