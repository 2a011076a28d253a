using ConsulLock.Aop;

namespace LeaderJob;

/// <summary>A leader-only job: whichever instance gets the lock runs it; the others skip this tick at once.</summary>
public sealed partial class NightlyReport(IConsulLockProvider locks)
{
    /// <summary>True when this instance ran the report; false when another instance held the lock (a skip).</summary>
    [ConsulLocked("reports/{day:yyyy-MM-dd}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)]
    public partial Task<bool> RunAsync(DateOnly day, CancellationToken cancellationToken);

    private static async Task<bool> RunCoreAsync(DateOnly day, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        Console.WriteLine($"this instance is the leader for {day:yyyy-MM-dd}: building the report (fencing token {lockContext.FencingToken})");
        await Task.Delay(TimeSpan.FromMilliseconds(1500), cancellationToken); // the report's work, longer than a tick
        return true;
    }
}
