using ConsulLock.Aop;
using Microsoft.Extensions.Hosting;

namespace LeaderJob;

/// <summary>Prints who leads, and each change, on every instance (standbys included), from Consul's blocking queries.</summary>
public sealed class LeaderWatch(IConsulLockProvider locks) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var leader in locks.WatchHolderAsync("leaders/report-scheduler", stoppingToken))
                {
                    ReportScheduler.Print(leader is null
                        ? "leader: none"
                        : $"leader: {leader.InstanceName} (fencing token {leader.FencingToken}, {leader.Waiters} standing by)");
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (ConsulLockException ex)
            {
                // Transient failures are ridden out inside the watch; a refusal (an ACL) is worth a line, then a retry.
                ReportScheduler.Print($"cannot watch the leader: {ex.Message}");
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
