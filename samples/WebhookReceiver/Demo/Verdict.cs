using System.Globalization;
using System.Text;
using WebhookReceiver.Contracts;
using WebhookReceiver.Store;

namespace WebhookReceiver.Demo;

/// <summary>What the records say: the store's (applies, duplicates, refusals) and the receivers' (holds, lock metrics).</summary>
public sealed record Verdict(
    int Events,
    int AppliedOnce,
    int AppliedTwiceOrMore,
    int NeverApplied,
    int DuplicatesAbsorbed,
    int Overlaps,
    int StaleRefused,
    int RefusedUnstaged,
    int LostMidCall,
    bool CancelledMomentShown,
    bool RefusedMomentShown,
    SendReport Sent,
    Percentiles LockWait,
    Percentiles Acquire)
{
    public bool Passed =>
        AppliedOnce == Events && AppliedTwiceOrMore == 0 && NeverApplied == 0 && Overlaps == 0 && RefusedUnstaged == 0 && Sent.Undelivered == 0
        && CancelledMomentShown && RefusedMomentShown;

    public static Verdict From(
        IReadOnlyList<string> events, IReadOnlyDictionary<string, int> applied, IReadOnlyList<StoreOp> ops, IReadOnlyList<HoldRecord> holds,
        IReadOnlyList<ReceiverReport> reports, SendReport sent, LostLockMoments moments)
    {
        var counts = events.Select(e => applied.GetValueOrDefault(e)).ToList();
        return new Verdict(
            events.Count,
            counts.Count(c => c == 1),
            counts.Count(c => c > 1),
            counts.Count(c => c == 0),
            ops.Count(o => o.Result == StoreOpResult.AlreadyApplied),
            CountOverlaps(holds),
            ops.Count(o => o.Result == StoreOpResult.RefusedStale),
            ops.Count(o => o.Result == StoreOpResult.RefusedStale && o.EventId != moments.RefusedEvent),
            holds.Count(h => h.Outcome == HoldOutcome.Lost),
            ops.Any(o => o.EventId == moments.CancelledEvent && o.Result == StoreOpResult.Abandoned),
            ops.Any(o => o.EventId == moments.RefusedEvent && o.Result == StoreOpResult.RefusedStale),
            sent,
            Percentiles.Of(reports.SelectMany(r => r.LockWaitSeconds)),
            Percentiles.Of(reports.SelectMany(r => r.AcquireSeconds)));
    }

    /// <summary>Pairs of holds of one key whose times intersect, as the holders themselves recorded them.</summary>
    public static int CountOverlaps(IReadOnlyList<HoldRecord> holds)
    {
        var overlaps = 0;
        foreach (var key in holds.GroupBy(h => h.EventId))
        {
            var ordered = key.OrderBy(h => h.Start).ToList();
            for (var i = 0; i < ordered.Count; i++)
            {
                for (var j = i + 1; j < ordered.Count && ordered[j].Start < ordered[i].End; j++)
                {
                    overlaps++;
                }
            }
        }

        return overlaps;
    }

    public string Render()
    {
        var text = new StringBuilder();
        void Line(string line) => text.AppendLine(CultureInfo.InvariantCulture, $"  {line}");
        text.AppendLine("Verdict, from the store's record of every request and the receivers' record of every hold:");
        Line($"events applied exactly once:       {AppliedOnce} of {Events}");
        Line($"events applied more than once:     {AppliedTwiceOrMore} (must be 0)");
        Line($"events never applied:              {NeverApplied} (must be 0)");
        Line($"deliveries sent:                   {Sent.Deliveries} ({Sent.ConcurrentDuplicates} events twice at once, {Sent.Retries} retries)");
        Line($"duplicate deliveries absorbed:     {DuplicatesAbsorbed} (found the event applied and did nothing)");
        Line($"overlapping holds of one key:      {Overlaps} (must be 0)");
        Line($"locks lost mid-call:               {LostMidCall} (every call the destroyed sessions had in flight)");
        Line($"stale fencing tokens refused:      {StaleRefused} ({RefusedUnstaged} outside the staged late write; must be 0: duplicates wait for the lock instead of racing)");
        Line($"lock wait (consullock.wait.duration, {LockWait.Count} waits):       p50 {LockWait.P50Ms:0.0} ms, p99 {LockWait.P99Ms:0.0} ms");
        Line($"acquire (consullock.acquire.duration, {Acquire.Count} acquires): p50 {Acquire.P50Ms:0.0} ms, p99 {Acquire.P99Ms:0.0} ms");
        if (!CancelledMomentShown)
        {
            Line("lost lock 1 did not show a cancelled call (it must)");
        }

        if (!RefusedMomentShown)
        {
            Line("lost lock 2 did not show a refused stale write (it must)");
        }

        text.AppendLine(Passed
            ? $"PASS: {Events} of {Events} events applied exactly once, duplicates absorbed, the lost locks cancelled their calls and the store refused the late write."
            : "FAIL: see above.");
        return text.ToString();
    }
}

/// <summary>Median and 99th percentile of a set of durations in seconds, shown in milliseconds.</summary>
public sealed record Percentiles(int Count, double P50Ms, double P99Ms)
{
    public static Percentiles Of(IEnumerable<double> seconds)
    {
        var sorted = seconds.Order().ToArray();
        return sorted.Length == 0 ? new Percentiles(0, 0, 0) : new Percentiles(sorted.Length, At(sorted, 0.50) * 1000, At(sorted, 0.99) * 1000);
    }

    // Nearest rank: the smallest value with at least the given share of values at or below it.
    private static double At(double[] sorted, double share) => sorted[Math.Max(0, (int)Math.Ceiling(share * sorted.Length) - 1)];
}
