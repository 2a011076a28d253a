using ConsulLock.Aop;
using Microsoft.Extensions.Hosting;

namespace ScheduledJobs;

/// <summary>
/// A cron schedule in a <see cref="BackgroundService"/>, as every instance runs it: sleep until the next occurrence
/// (on this instance's clock), offer the firing to <see cref="ReportJob"/>, repeat.
/// </summary>
public sealed class ReportService(ReportJob report, JobSchedule schedule, ScheduleOptions options, JobWork work, FinishLine finish) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var firing in schedule.Firings)
        {
            var wait = firing - schedule.Clock.GetUtcNow();
            await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, schedule.Clock, stoppingToken);
            bool ran;
            try
            {
                ran = await (options.MinHold ? report.RunAsync(firing, stoppingToken) : report.RunWithoutMinHoldAsync(firing, stoppingToken));
            }
            catch (ConsulLockLostException lost) when (!stoppingToken.IsCancellationRequested)
            {
                // MaxHold reached (or the lock lost otherwise): this run is over; the next firing is a key of its own.
                Console.WriteLine($"[{work.Instance}] {ReportJob.Name} {JobWork.TimeOf(firing)}: stopped, {lost.Message}");
                continue;
            }
            catch (ConsulLockException failed)
            {
                // Consul unreachable or refusing: this firing is not run here; the schedule goes on.
                Console.WriteLine($"[{work.Instance}] {ReportJob.Name} {JobWork.TimeOf(firing)}: not run, {failed.Message}");
                continue;
            }

            if (!ran)
            {
                work.Skipped(ReportJob.Name, firing);
            }
        }

        finish.Done();
    }
}
