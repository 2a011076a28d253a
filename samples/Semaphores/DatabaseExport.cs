using ConsulLock.Aop;

namespace Semaphores;

/// <summary>
/// An export that loads the database: any instance may run one, but at most <see cref="Limit"/> may run at once
/// across all instances, per tenant. The permit is a Consul semaphore on <c>exports/{tenant}</c>.
/// </summary>
public sealed partial class DatabaseExport(IConsulLockProvider locks, ExportOptions options, ExportLog log)
{
    /// <summary>How many exports of one tenant may run at once; the verdict checks the records against it.</summary>
    public const int Limit = 3;

    /// <summary>Waits for one of the tenant's <see cref="Limit"/> permits, then runs export <paramref name="job"/>.</summary>
    [ConsulSemaphore("exports/{tenant}", Limit = Limit)]
    public partial Task RunAsync(string tenant, int job, CancellationToken cancellationToken);

    private async Task RunCoreAsync(string tenant, int job, ConsulLockContext permit, CancellationToken cancellationToken)
    {
        var instance = options.Instance;
        log.Append(new ExportRecord(ExportRecord.Start, instance, job, DateTimeOffset.UtcNow, permit.Key, permit.SessionId, permit.FencingToken));
        Console.WriteLine($"[{instance}] export {job} of {tenant}: running, holding a permit of '{permit.Key}' (session {permit.SessionId}, fencing token {permit.FencingToken})");
        var outcome = "completed";
        try
        {
            // The export's work. The token fires when the host stops or the permit is lost (its session ended, or it
            // was dropped from the semaphore's holders): an export that can no longer count itself among the 3 stops.
            await Task.Delay(TimeSpan.FromSeconds(options.JobLength), cancellationToken);
        }
        catch (OperationCanceledException)
        {
            outcome = permit.LostToken.IsCancellationRequested ? "stopped: the permit was lost" : "stopped: cancelled";
            throw;
        }
        finally
        {
            log.Append(new ExportRecord(ExportRecord.End, instance, job, DateTimeOffset.UtcNow, permit.Key, permit.SessionId, permit.FencingToken, outcome));
        }
    }
}
