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

    /// <summary>
    /// Links the waiting acquire's activity to the trace of the request that holds the key (the holder document's
    /// <c>traceparent</c>), once per holder, so that a trace viewer leads from "waited 4 s" to what held the key.
    /// Activities take links after they start only from .NET 9 on; on .NET 8 no link is added.
    /// </summary>
    internal static void LinkToHolder(Engine.LockAttempt attempt, Consul.KvEntry held)
    {
#if NET9_0_OR_GREATER
        if (attempt.Activity is not { } activity
            || Engine.HolderDocument.TryRead(held.Value)?.TraceParent is not { } traceParent
            || traceParent == attempt.LinkedTraceParent
            || !ActivityContext.TryParse(traceParent, null, isRemote: true, out var holder))
        {
            return;
        }

        attempt.LinkedTraceParent = traceParent;
        activity.AddLink(new ActivityLink(holder, new ActivityTagsCollection { ["consullock.holder.session"] = held.Session }));
#else
        _ = attempt;
        _ = held;
#endif
    }

    public static double Seconds(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

    /// <summary>
    /// The outcome of an acquire (a lock or a permit) that returned: "acquired", "skipped" or "timeout"; a timeout is
    /// counted here, a skip by the caller, which knows it skipped (<see cref="Skips"/>).
    /// </summary>
    public static string OutcomeOf(bool granted, bool skipOnTimeout)
    {
        if (!granted && !skipOnTimeout)
        {
            Timeouts.Add(1);
        }

        return granted ? "acquired" : skipOnTimeout ? "skipped" : "timeout";
    }

    /// <summary>Records an acquire's outcome on its activity and its duration.</summary>
    public static void AcquireEnded(Activity? activity, long started, string outcome)
    {
        activity?.SetTag("consullock.outcome", outcome);
        AcquireDuration.Record(Seconds(started), new KeyValuePair<string, object?>("outcome", outcome));
    }
}
