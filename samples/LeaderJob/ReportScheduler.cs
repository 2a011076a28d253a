using System.Globalization;
using ConsulLock.Aop;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace LeaderJob;

/// <summary>
/// The leader-only part of the service: of all running instances, one schedules the reports; the others stand by and
/// take over when it stops, crashes or loses its session. The generated <c>LeadAsync</c> campaigns until the host
/// stops, with <c>locks</c> (the generator finds the primary-constructor parameter); <see cref="LeadCoreAsync"/> is one term.
/// </summary>
public sealed partial class ReportScheduler(IConsulLockProvider locks, IConfiguration configuration, IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <summary>How many reports a term builds before it hands over (for the demo and its test); unlimited by default.</summary>
    private readonly int _reportsPerTerm = configuration.GetValue("LeaderJob:ReportsPerTerm", int.MaxValue);

    private readonly TimeSpan _interval = configuration.GetValue("LeaderJob:Interval", TimeSpan.FromSeconds(1));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await LeadAsync(stoppingToken);

        // The campaign ended: the host is stopping, or a term did its share of reports and resigned.
        lifetime.StopApplication();
    }

    [ConsulLeader("leaders/report-scheduler")]
    private partial Task LeadAsync(CancellationToken cancellationToken);

    private async Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader)
    {
        Print($"term began: this instance leads (fencing token {term.FencingToken})");
        try
        {
            using var timer = new PeriodicTimer(_interval);
            for (var report = 1; report <= _reportsPerTerm && await timer.WaitForNextTickAsync(whileLeader); report++)
            {
                // A downstream store would be given term.FencingToken with each write, to turn away a stale leader's.
                Print($"building report {report} (fencing token {term.FencingToken})");
            }
        }
        catch (OperationCanceledException) when (whileLeader.IsCancellationRequested)
        {
            // Leadership lost or the host stopping: end the term; the campaign resigns (or campaigns again).
        }
        finally
        {
            Print($"term ended (fencing token {term.FencingToken}): {(whileLeader.IsCancellationRequested ? "leadership lost or the host is stopping" : "its reports are done, resigning")}");
        }
    }

    internal static void Print(string line) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:O} {line}"));
}
