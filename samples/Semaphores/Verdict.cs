using System.Globalization;

namespace Semaphores;

/// <summary>
/// Reads every instance's records and says whether at most <see cref="DatabaseExport.Limit"/> exports ran at once,
/// whether every planned export ran (once, to its end), and the peak: the most bodies that were running at one moment.
/// </summary>
public static class Verdict
{
    /// <summary>Writes the verdict; 0 when the limit held and every export ran once to its end, else 1 (2: no records).</summary>
    public static int Write(string folder, int limit, TextWriter output)
    {
        if (!Directory.Exists(folder))
        {
            output.WriteLine($"No records at '{folder}': run the instances first (Exports:Records names the folder).");
            return 2;
        }

        var records = ExportLog.ReadAll(folder);
        var instances = records.Select(r => r.Instance).Distinct().Order(StringComparer.Ordinal).ToList();
        output.WriteLine($"Verdict, from the records of {instances.Count} instances ({string.Join(", ", instances)}):");

        // A job is one an instance planned or started (a `consul lock` holder records only its runs); it ran when its
        // body started once and ended, completed.
        var jobs = records.Select(r => (r.Instance, r.Job)).Distinct().ToList();
        var starts = records.Where(r => r.Kind == ExportRecord.Start).ToLookup(r => (r.Instance, r.Job));
        var ends = records.Where(r => r.Kind == ExportRecord.End).ToLookup(r => (r.Instance, r.Job));
        var ran = 0;
        foreach (var job in jobs.OrderBy(j => j.Instance, StringComparer.Ordinal).ThenBy(j => j.Job))
        {
            var (started, ended) = (starts[job].Count(), ends[job].ToList());
            if (started == 1 && ended.Count == 1 && ended[0].Outcome is null or "completed")
            {
                ran++;
            }
            else
            {
                output.WriteLine($"  {job.Instance} export {job.Job}: started {started} times, ended {ended.Count} times{string.Concat(ended.Select(e => $" ({e.Outcome ?? "completed"})"))}");
            }
        }

        var byInstance = string.Join(", ", instances.Select(i => $"{i} {starts.Where(g => g.Key.Instance == i).Sum(g => g.Count())}"));
        output.WriteLine($"  bodies run by instance: {byInstance}");

        // The peak: walk the starts and ends in time order. At one instant an end counts before a start: a permit is
        // given back after its body recorded its end, and taken before the next body records its start. A body that
        // never ended runs to the end of the records.
        var events = records.Where(r => r.Kind == ExportRecord.End).Select(r => (r.At, Step: -1, Record: r))
            .Concat(records.Where(r => r.Kind == ExportRecord.Start).Select(r => (r.At, Step: +1, Record: r)))
            .OrderBy(e => e.At).ThenBy(e => e.Step)
            .ToList();
        int running = 0, peak = 0;
        DateTimeOffset? peakAt = null;
        var overLimit = 0;
        foreach (var (at, step, _) in events)
        {
            var before = running;
            running += step;
            if (running > peak)
            {
                (peak, peakAt) = (running, at);
            }

            if (running > limit && before <= limit)
            {
                overLimit++;
                output.WriteLine($"  {Clock(at)}: {running} exports running at once, over the limit of {limit}");
            }
        }

        if (peakAt is { } first)
        {
            var atPeak = events.Where(e => e.At <= first).GroupBy(e => (e.Record.Instance, e.Record.Job)).Where(g => g.Sum(e => e.Step) > 0).Select(g => $"{g.Key.Instance}/{g.Key.Job}");
            output.WriteLine($"  first at the peak, {Clock(first)}: {string.Join(", ", atPeak)}");
        }

        var pass = jobs.Count > 0 && overLimit == 0 && ran == jobs.Count;
        output.WriteLine(
            $"at most {limit} exports at once (limit {limit}): {(pass ? "PASS" : "FAIL")}; {ran} of {jobs.Count} jobs ran; peak concurrency {peak}" +
            (overLimit > 0 ? $"; over the limit {overLimit} time{(overLimit == 1 ? "" : "s")}" : ""));
        return pass ? 0 : 1;
    }

    private static string Clock(DateTimeOffset at) => at.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
}
