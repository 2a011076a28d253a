using ConsulLock.Aop;

namespace ScheduledJobs;

/// <summary>
/// The job the cron service runs at each firing. Its key names the firing, so each firing is a lock of its own:
/// the first instance to fire runs it, the others skip it at once (<c>WaitTimeout = "0s"</c>, <c>Skip</c>).
/// <c>MinHold</c> keeps the key held for 10 s from the grant (one period of the schedule) however soon the run ends, so an instance whose timer
/// fires up to 10 s late finds it held and skips too; <c>MaxHold</c> ends a run that hangs by the next firing
/// (every 10 s). Each returns whether this instance ran the firing: a skip is false.
/// </summary>
public sealed partial class ReportJob(IConsulLockProvider locks, JobWork work)
{
    public const string Name = "report";

    public const string Scheduler = "Cronos BackgroundService";

    [ConsulLocked("jobs/report/{firing:yyyy-MM-dd'T'HH:mm:ss'Z'}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = "10s", MaxHold = "10s")]
    public partial Task<bool> RunAsync(DateTimeOffset firing, CancellationToken cancellationToken);

    /// <summary>The same without <c>MinHold</c>, to show what it prevents: the key is free as soon as a run ends.</summary>
    [ConsulLocked("jobs/report/{firing:yyyy-MM-dd'T'HH:mm:ss'Z'}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MaxHold = "10s", Body = nameof(RunCoreAsync))]
    public partial Task<bool> RunWithoutMinHoldAsync(DateTimeOffset firing, CancellationToken cancellationToken);

    private async Task<bool> RunCoreAsync(DateTimeOffset firing, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        await work.RunAsync(Name, Scheduler, firing, lockContext, cancellationToken);
        return true;
    }
}
