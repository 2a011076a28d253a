using ConsulLock.Aop;
using Quartz;

namespace ScheduledJobs;

/// <summary>
/// A Quartz.NET job whose <see cref="IJob.Execute"/> is itself the locked method: Quartz calls it through the
/// interface, the generated code takes the firing's key (the job's name and the trigger's scheduled time) and runs
/// <c>ExecuteCore</c> only on the instance that got it. Each instance has its own in-memory scheduler; Consul is
/// what they share.
/// </summary>
public sealed partial class CleanupJob(IConsulLockProvider locks, JobWork work) : IJob
{
    public const string Name = "cleanup";

    public const string Scheduler = "Quartz.NET job";

    [ConsulLocked("jobs/{context.JobDetail.Key.Name}/{context.ScheduledFireTimeUtc:yyyy-MM-dd'T'HH:mm:ss'Z'}",
        WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = "10s", MaxHold = "10s")]
    public partial ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken);

    // The key holds the scheduled time, so it is there: the generated code refuses a null (ArgumentNullException)
    // before it takes the lock.
    private async ValueTask ExecuteCore(IJobExecutionContext context, ConsulLockContext lockContext, CancellationToken cancellationToken) =>
        await work.RunAsync(context.JobDetail.Key.Name, Scheduler, context.ScheduledFireTimeUtc!.Value, lockContext, cancellationToken);
}

/// <summary>The same job without <c>MinHold</c>, to show what it prevents.</summary>
public sealed partial class CleanupJobWithoutMinHold(IConsulLockProvider locks, JobWork work) : IJob
{
    [ConsulLocked("jobs/{context.JobDetail.Key.Name}/{context.ScheduledFireTimeUtc:yyyy-MM-dd'T'HH:mm:ss'Z'}",
        WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MaxHold = "10s")]
    public partial ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken);

    private async ValueTask ExecuteCore(IJobExecutionContext context, ConsulLockContext lockContext, CancellationToken cancellationToken) =>
        await work.RunAsync(context.JobDetail.Key.Name, CleanupJob.Scheduler, context.ScheduledFireTimeUtc!.Value, lockContext, cancellationToken);
}
