using Microsoft.Extensions.Hosting;

namespace Semaphores;

/// <summary>
/// Starts this instance's exports all at once, as a burst of requests would, waits for them, and stops the host:
/// more exports than permits, so most of them wait for one.
/// </summary>
public sealed class ExportService(DatabaseExport export, ExportOptions options, ExportLog log, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var jobs = Enumerable.Range(1, options.Jobs).ToList();
        foreach (var job in jobs)
        {
            log.Append(new ExportRecord(ExportRecord.Planned, options.Instance, job, DateTimeOffset.UtcNow));
        }

        Console.WriteLine($"[{options.Instance}] ready: {options.Jobs} exports of {options.Tenant}, {options.JobLength:0.###} s each, at most {DatabaseExport.Limit} at once across all instances");
        try
        {
            await Task.WhenAll(jobs.Select(job => export.RunAsync(options.Tenant, job, stoppingToken)));
            Console.WriteLine($"[{options.Instance}] done: {options.Jobs} exports ran");
        }
        catch (Exception error) when (!stoppingToken.IsCancellationRequested)
        {
            // A failed export fails the instance (exit code 1); the records still say what ran.
            Console.WriteLine($"[{options.Instance}] an export failed: {error.GetType().Name}: {error.Message}");
            Environment.ExitCode = 1;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }
}
