using ConsulLock.Aop;

namespace LeaderJob;

/// <summary>A leader-only job: whichever instance gets the lock runs it; the others skip this tick at once.</summary>
public sealed partial class NightlyReport(IConsulLockProvider locks)
{
    /// <summary>Returns normally in both cases; <see cref="RanLast"/> tells whether this instance ran it.</summary>
    [ConsulLocked("reports/{day:yyyy-MM-dd}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)]
    public partial Task RunAsync(DateOnly day, CancellationToken cancellationToken);

    public bool RanLast { get; private set; }

    private async Task RunCoreAsync(DateOnly day, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        RanLast = true;
        Console.WriteLine($"this instance is the leader for {day:yyyy-MM-dd}: building the report (fencing token {lockContext.FencingToken})");
        await Task.Delay(TimeSpan.FromMilliseconds(1500), cancellationToken); // the report's work, longer than a tick
    }

    public void ResetRan() => RanLast = false;
}
