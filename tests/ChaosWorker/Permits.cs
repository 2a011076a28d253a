using System.Diagnostics;

namespace ConsulLock.Aop.ChaosWorker;

/// <summary>
/// The semaphore workload (issue 22): a generated <see cref="ConsulSemaphoreAttribute"/> method with the suite's session
/// settings. Its sections are written to the register as <c>pstart</c>, <c>pend</c> and <c>plost</c> lines, unfenced
/// (permits are not exclusive); the checker counts how many run at once.
/// </summary>
internal sealed partial class Permits(IConsulLockProvider locks, RegisterClient register, string flow)
{
    /// <summary>How many permits the semaphore gives; the checker reads the same.</summary>
    public const int Limit = 2;

    /// <summary>Waits for a permit as long as the caller lets it, then holds it for <paramref name="holdMs"/>.</summary>
    [ConsulSemaphore("permits/{name}", Limit = Limit, SessionTtl = "10s", LockDelay = "15s")]
    public partial Task HoldAsync(string name, int holdMs, CancellationToken cancellationToken);

    /// <summary>Waits at most 3 s for a permit (then <see cref="ConsulLockTimeoutException"/>), then holds it.</summary>
    [ConsulSemaphore("permits/{name}", Limit = Limit, WaitTimeout = "3s", SessionTtl = "10s", LockDelay = "15s")]
    public partial Task HoldWithTimeoutAsync(string name, int holdMs, CancellationToken cancellationToken);

    private Task HoldCoreAsync(string name, int holdMs, CancellationToken cancellationToken, ConsulLockContext context) =>
        RunAsync(name, holdMs, context);

    private Task HoldWithTimeoutCoreAsync(string name, int holdMs, CancellationToken cancellationToken, ConsulLockContext context) =>
        RunAsync(name, holdMs, context);

    private async Task RunAsync(string name, int holdMs, ConsulLockContext context)
    {
        var token = context.FencingToken;
        using var lost = context.LostToken.Register(() =>
        {
            var at = Stopwatch.GetTimestamp();
            _ = register.SendAsync("plost", flow, name, token, at, context.SessionId);
        });
        var outcome = "done";
        try
        {
            await register.SendAsync("pstart", flow, name, token, Stopwatch.GetTimestamp(), context.SessionId).ConfigureAwait(false);
            await Task.Delay(holdMs, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            outcome = context.LostToken.IsCancellationRequested ? "lost" : "cancelled";
            throw;
        }
        finally
        {
            await register.SendAsync("pend", flow, name, token, Stopwatch.GetTimestamp(), outcome).ConfigureAwait(false);
        }
    }
}
