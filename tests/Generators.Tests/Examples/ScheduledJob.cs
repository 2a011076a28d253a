namespace ConsulLock.Aop.Generators.Tests.Examples;

/// <summary>
/// A scheduled job as contract section 7 writes it: every instance's timer fires, one runs the job, the others skip;
/// the key stays held for <c>MinHold</c> so that a timer firing late does not run it again, and <c>MaxHold</c> ends a
/// hung run. <paramref name="work"/> is what the tests make the body do.
/// </summary>
public sealed partial class ScheduledJob(IConsulLockProvider locks, Func<CancellationToken, Task> work)
{
    [ConsulLocked("jobs/nightly-report/{day:yyyy-MM-dd}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = "3s", MaxHold = "2m")]
    public partial Task RunAsync(DateOnly day, CancellationToken cancellationToken);

    /// <summary>The same job telling its caller whether this instance ran it: a skip is false (issue 19).</summary>
    [ConsulLocked("jobs/daily-export/{day:yyyy-MM-dd}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)]
    public partial Task<bool> TryRunAsync(DateOnly day, CancellationToken cancellationToken);

    [ConsulLocked("jobs/hung/{day:yyyy-MM-dd}", MaxHold = "1s")]
    public partial Task RunHungAsync(DateOnly day, CancellationToken cancellationToken);

    private Task RunCoreAsync(DateOnly day, CancellationToken cancellationToken) => work(cancellationToken);

    private Task RunHungCoreAsync(DateOnly day, CancellationToken cancellationToken) => work(cancellationToken);

    private async Task<bool> TryRunCoreAsync(DateOnly day, CancellationToken cancellationToken)
    {
        await work(cancellationToken);
        return true;
    }
}

/// <summary>The shape of Quartz.NET's job interface: a [ConsulLocked] method may implement an interface member.</summary>
public interface IJobLike
{
    Task Execute(IJobContextLike context);
}

public interface IJobContextLike
{
    JobDetailLike JobDetail { get; }

    CancellationToken CancellationToken { get; }
}

public sealed record JobDetailLike(JobKeyLike Key);

public sealed record JobKeyLike(string Name, string Group);

/// <summary>A Quartz-shaped job whose <c>Execute</c> is the locked method, keyed by the job's name.</summary>
public sealed partial class LockedJobLike(IConsulLockProvider locks, Func<string, CancellationToken, Task> work) : IJobLike
{
    [ConsulLocked("jobs/{context.JobDetail.Key.Name}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = "1s")]
    public partial Task Execute(IJobContextLike context);

    private Task ExecuteCore(IJobContextLike context, ConsulLockContext lockContext) =>
        work(context.JobDetail.Key.Name, lockContext.CancellationToken);
}
