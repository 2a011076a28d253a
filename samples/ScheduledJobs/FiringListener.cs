using ConsulLock.Aop;
using Quartz;

namespace ScheduledJobs;

/// <summary>
/// After each firing of the Quartz job: says so when this instance skipped it (the locked <c>Execute</c> returned
/// without running the body), and tells <see cref="FinishLine"/> when the last firing is over.
/// </summary>
public sealed class FiringListener(JobWork work, JobSchedule schedule, FinishLine finish) : IJobListener
{
    public string Name => nameof(FiringListener);

    public ValueTask JobToBeExecuted(IJobExecutionContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask JobExecutionVetoed(IJobExecutionContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask JobWasExecuted(IJobExecutionContext context, JobExecutionException? jobException, CancellationToken cancellationToken)
    {
        var job = context.JobDetail.Key.Name;
        if (context.ScheduledFireTimeUtc is not { } firing)
        {
            return ValueTask.CompletedTask; // fired by hand, not by the schedule
        }

        if (jobException is not null)
        {
            // Quartz wraps what Execute threw; MaxHold reached is a ConsulLockLostException inside.
            var cause = Causes(jobException).OfType<ConsulLockLostException>().FirstOrDefault() ?? (Exception)jobException;
            Console.WriteLine($"[{work.Instance}] {job} {JobWork.TimeOf(firing)}: stopped, {cause.Message}");
        }
        else if (!work.RanHere(job, firing))
        {
            work.Skipped(job, firing);
        }

        if (firing >= schedule.Last)
        {
            finish.Done();
        }

        return ValueTask.CompletedTask;
    }

    private static IEnumerable<Exception> Causes(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            yield return current;
        }
    }
}
