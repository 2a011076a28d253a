using System.Text.Json;

namespace ScheduledJobs;

/// <summary>
/// One line of an instance's records: a firing it planned to take part in, or a run of a job it made. Times are the
/// system clock's (UTC), not the skewed one, so that records of different instances compare.
/// </summary>
public sealed record JobRecord(
    string Kind, string Job, string Scheduler, DateTimeOffset Firing, string Instance,
    string? Key = null, ulong FencingToken = 0, DateTimeOffset? Started = null, DateTimeOffset? Ended = null, string? Outcome = null)
{
    public const string Planned = "planned";
    public const string Ran = "ran";
}

/// <summary>
/// Where this instance writes its records: a JSON-lines file of its own in the shared records folder, which the
/// verdict reads once every instance has exited.
/// </summary>
public sealed class RunLog
{
    private readonly Lock _gate = new();
    private readonly string _path;

    public RunLog(ScheduleOptions options)
    {
        Directory.CreateDirectory(options.Records);
        _path = Path.Combine(options.Records, options.Instance + ".jsonl");
        File.WriteAllText(_path, "");
    }

    public void Plan(string job, string scheduler, JobSchedule schedule, string instance)
    {
        foreach (var firing in schedule.Firings)
        {
            Append(new JobRecord(JobRecord.Planned, job, scheduler, firing, instance));
        }
    }

    public void Append(JobRecord record)
    {
        var line = JsonSerializer.Serialize(record) + "\n";
        lock (_gate)
        {
            File.AppendAllText(_path, line);
        }
    }

    /// <summary>Every record in <paramref name="folder"/>, of every instance.</summary>
    public static IReadOnlyList<JobRecord> ReadAll(string folder) =>
        Directory.EnumerateFiles(folder, "*.jsonl")
            .SelectMany(File.ReadLines)
            .Where(line => line.Length > 0)
            .Select(line => JsonSerializer.Deserialize<JobRecord>(line) ?? throw new InvalidDataException($"An empty record in {folder}."))
            .ToList();
}
