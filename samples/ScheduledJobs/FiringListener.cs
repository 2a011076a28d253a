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
            Console.WriteLine($"[{work.Instance}] {job} {JobWork.TimeOf(firing)}: stopped, {jobException.InnerException?.Message ?? jobException.Message}");
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
}
