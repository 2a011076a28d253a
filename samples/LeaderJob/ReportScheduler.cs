using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace LeaderJob;

/// <summary>Ticks once a second and offers each tick's report to <see cref="NightlyReport"/>; stops after the configured runs.</summary>
public sealed class ReportScheduler(NightlyReport report, IConfiguration configuration, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var runs = configuration.GetValue("LeaderJob:Runs", int.MaxValue);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        for (var tick = 0; tick < runs && await timer.WaitForNextTickAsync(stoppingToken); tick++)
        {
            if (!await report.RunAsync(DateOnly.FromDateTime(DateTime.UtcNow), stoppingToken))
            {
                Console.WriteLine("another instance holds the report lock: skipping this tick");
            }
        }

        lifetime.StopApplication();
    }
}
