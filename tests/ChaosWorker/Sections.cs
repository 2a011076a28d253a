using System.Diagnostics;

namespace ConsulLock.Aop.ChaosWorker;

/// <summary>
/// The critical sections a flow runs, as a user would write them: generated <see cref="ConsulLockedAttribute"/>
/// methods with the suite's session settings (TTL 10 s, lock-delay 15 s, CONTRACT section 6).
/// </summary>
internal sealed partial class Sections(IConsulLockProvider locks, RegisterClient register, string flow)
{
    /// <summary>Waits for the key as long as the caller lets it, then holds it for <paramref name="holdMs"/>.</summary>
    [ConsulLocked("{key}", SessionTtl = "10s", LockDelay = "15s")]
    public partial Task HoldAsync(string key, int holdMs, CancellationToken cancellationToken);

    /// <summary>Waits at most 3 s for the key (then <see cref="ConsulLockTimeoutException"/>), then holds it.</summary>
    [ConsulLocked("{key}", WaitTimeout = "3s", SessionTtl = "10s", LockDelay = "15s")]
    public partial Task HoldWithTimeoutAsync(string key, int holdMs, CancellationToken cancellationToken);

    /// <summary>Campaigns for the key "leader"; each term holds it for <paramref name="holdMs"/>, then resigns.</summary>
    [ConsulLeader(LeaderWorkload.Key, SessionTtl = "10s", LockDelay = "15s")]
    public partial Task LeadAsync(int holdMs, CancellationToken cancellationToken);

    private Task LeadCoreAsync(int holdMs, ConsulLockContext term, CancellationToken whileLeader) =>
        RunAsync(LeaderWorkload.Key, holdMs, term);

    private Task HoldCoreAsync(string key, int holdMs, CancellationToken cancellationToken, ConsulLockContext context) =>
        RunAsync(key, holdMs, context);

    private Task HoldWithTimeoutCoreAsync(string key, int holdMs, CancellationToken cancellationToken, ConsulLockContext context) =>
        RunAsync(key, holdMs, context);

    /// <summary>
    /// The section: a fenced write at start, the hold, a fenced write at the end whatever ended it. Times are taken on
    /// the monotonic clock (<see cref="Stopwatch.GetTimestamp"/>) before each message is sent, so the start is after
    /// the grant and the end before the release: the checker's intervals are inside the real ones.
    /// </summary>
    private async Task RunAsync(string key, int holdMs, ConsulLockContext context)
    {
        var token = context.FencingToken;
        var started = Stopwatch.GetTimestamp();
        using var lost = context.LostToken.Register(() =>
        {
            var at = Stopwatch.GetTimestamp();
            _ = register.SendAsync("lost", flow, key, token, at, context.SessionId);
        });
        var outcome = "done";
        try
        {
            await register.SendAsync("start", flow, key, token, started, context.SessionId).ConfigureAwait(false);
            await Task.Delay(holdMs, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            outcome = context.LostToken.IsCancellationRequested ? "lost" : "cancelled";
            throw;
        }
        finally
        {
            await register.SendAsync("end", flow, key, token, Stopwatch.GetTimestamp(), outcome).ConfigureAwait(false);
        }
    }
}
