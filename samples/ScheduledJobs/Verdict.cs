using System.Globalization;

namespace ScheduledJobs;

/// <summary>
/// Reads every instance's records and says, per job, how many of its firings ran exactly once; lists each firing
/// that ran more than once (who ran it, when, with which fencing token) or not at all.
/// </summary>
public static class Verdict
{
    /// <summary>Writes the verdict; 0 when every firing of every job ran exactly once, else 1.</summary>
    public static int Write(string folder, TextWriter output)
    {
        if (!Directory.Exists(folder))
        {
            output.WriteLine($"No records at '{folder}': run the instances first (ScheduledJobs:Records names the folder).");
            return 2;
        }

        var records = RunLog.ReadAll(folder);
        var instances = records.Select(r => r.Instance).Distinct().Order(StringComparer.Ordinal).ToList();
        output.WriteLine($"Verdict, from the records of {instances.Count} instances ({string.Join(", ", instances)}):");
        int firings = 0, twice = 0, never = 0;
        // In the order of the records: the cron job first, as each instance plans it first.
        foreach (var job in records.GroupBy(r => (r.Job, r.Scheduler)))
        {
            var runs = job.Where(r => r.Kind == JobRecord.Ran).ToLookup(r => r.Firing);
            var planned = job.Select(r => r.Firing).Distinct().Order().ToList();
            var once = planned.Count(f => runs[f].Count() == 1);
            var byInstance = string.Join(", ", instances.Select(i => $"{i} {job.Count(r => r.Kind == JobRecord.Ran && r.Instance == i)}"));
            output.WriteLine($"  {job.Key.Job} ({job.Key.Scheduler}): {once} of {planned.Count} firings ran exactly once (runs by instance: {byInstance})");
            foreach (var firing in planned)
            {
                var ofFiring = runs[firing].OrderBy(r => r.Started).ToList();
                if (ofFiring.Count == 0)
                {
                    never++;
                    output.WriteLine($"    {Time(firing)} ran not at all");
                }
                else if (ofFiring.Count > 1)
                {
                    twice++;
                    output.WriteLine($"    {Time(firing)} ran {ofFiring.Count} times: {string.Join(", ", ofFiring.Select(Describe))}");
                }
            }

            firings += planned.Count;
        }

        if (firings == 0)
        {
            output.WriteLine($"FAIL: no records in '{folder}'.");
            return 1;
        }

        output.WriteLine(twice + never == 0
            ? "PASS: every firing of every job ran exactly once."
            : $"FAIL: of {firings} firings, {twice} ran more than once and {never} not at all.");
        return twice + never == 0 ? 0 : 1;
    }

    private static string Describe(JobRecord run) =>
        $"{run.Instance} from {Clock(run.Started)} to {Clock(run.Ended)} with token {run.FencingToken}" + (run.Outcome == "completed" ? "" : $" ({run.Outcome})");

    private static string Time(DateTimeOffset firing) => firing.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Clock(DateTimeOffset? at) => at?.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture) ?? "?";
}
