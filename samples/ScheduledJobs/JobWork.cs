using System.Collections.Concurrent;
using ConsulLock.Aop;

namespace ScheduledJobs;

/// <summary>
/// What both jobs do once they hold their firing's key: work for <see cref="ScheduleOptions.JobLength"/> seconds
/// (stopping when the token fires: the lock lost, MaxHold reached, the host stopping) and record the run.
/// </summary>
public sealed class JobWork(ScheduleOptions options, RunLog log)
{
    private readonly ConcurrentDictionary<(string Job, DateTimeOffset Firing), bool> _ranHere = new();

    public string Instance => options.Instance;

    public async Task RunAsync(string job, string scheduler, DateTimeOffset firing, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        _ranHere[(job, firing)] = true;
        var started = DateTimeOffset.UtcNow;
        Console.WriteLine($"[{Instance}] {job} {TimeOf(firing)}: running, holding '{lockContext.Key}' (fencing token {lockContext.FencingToken})");
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(options.JobLength), cancellationToken);
        }
        finally
        {
            var outcome = !cancellationToken.IsCancellationRequested ? "completed"
                : lockContext.LostToken.IsCancellationRequested ? "stopped: the lock ended"
                : "stopped: cancelled";
            log.Append(new JobRecord(
                JobRecord.Ran, job, scheduler, firing, Instance, lockContext.Key, lockContext.FencingToken, started, DateTimeOffset.UtcNow, outcome));
        }
    }

    /// <summary>
    /// Whether this instance ran the job's firing. For the Quartz job only: its locked <c>Execute</c> returns
    /// <c>ValueTask</c>, as <c>IJob</c> says, so a skip is not in its result (the library still logs and counts it);
    /// the cron service's <see cref="ReportJob"/> returns whether it ran.
    /// </summary>
    public bool RanHere(string job, DateTimeOffset firing) => _ranHere.ContainsKey((job, firing));

    public void Skipped(string job, DateTimeOffset firing) =>
        Console.WriteLine($"[{Instance}] {job} {TimeOf(firing)}: skipped, another instance holds its key");

    public static string TimeOf(DateTimeOffset firing) => firing.UtcDateTime.ToString("HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
