using Microsoft.AspNetCore.Http;
using WebhookReceiver.Contracts;
using WebhookReceiver.Store;

namespace WebhookReceiver.Demo;

/// <summary>
/// The two moments a lock is taken away mid-call, staged through the store: whoever first touches the chosen event
/// gets its Consul session destroyed (as an operator or a failed health check would) while its request is held.
/// <list type="bullet">
/// <item>Cancelled: a receiver's check is in flight; its lost-token fires and its call is cancelled.</item>
/// <item>Refused: a receiver's write has reached the store but is slow to take effect (a network or disk delay); the
/// lock passes to another receiver, which applies the event; then the old write is decided: refused, stale token.</item>
/// </list>
/// Every line it says names the receiver, token and session from the store's own record of the request.
/// </summary>
public sealed class LostLockMoments(LocalConsul consul, EventStore store, string cancelled, string refused, Action<string> say)
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(20);
    private int _cancelledStaged;
    private int _refusedStaged;

    /// <summary>The event whose check was cancelled.</summary>
    public string CancelledEvent => cancelled;

    /// <summary>The event whose late write was refused.</summary>
    public string RefusedEvent => refused;

    public async Task BeforeDecideAsync(StoreOp op, HttpContext context)
    {
        if (op.Kind == StoreOpKind.Check && op.EventId == cancelled && Interlocked.Exchange(ref _cancelledStaged, 1) == 0)
        {
            say($"LOST LOCK 1: {op.Receiver} asks the store about {op.EventId} (token {op.Token}); destroying its session {Abbreviate(op.Session)} while the call is in flight.");
            await consul.DestroySessionAsync(op.Session);
            try
            {
                // The receiver's lost-token cancels its call, which hangs up on us: the outcome this moment shows.
                await Task.Delay(s_limit, context.RequestAborted);
                say($"LOST LOCK 1: {op.Receiver} did NOT cancel its call within {s_limit.TotalSeconds} s.");
            }
            catch (OperationCanceledException)
            {
                say($"LOST LOCK 1: {op.Receiver} hung up: its call for {op.EventId} (token {op.Token}) was cancelled the moment its lock was lost.");
            }
        }
        else if (op.Kind == StoreOpKind.Apply && op.EventId == refused && Interlocked.Exchange(ref _refusedStaged, 1) == 0)
        {
            say($"LOST LOCK 2: {op.Receiver}'s write of {op.EventId} (token {op.Token}) reached the store and is slow to take effect; destroying its session {Abbreviate(op.Session)} now.");
            await consul.DestroySessionAsync(op.Session);
            try
            {
                var winner = await store.WhenAppliedAsync(op.EventId).WaitAsync(s_limit);
                say($"LOST LOCK 2: meanwhile {winner.Receiver} took the lock after the lock-delay and applied {op.EventId} with token {winner.Token}; now the store decides {op.Receiver}'s late write (token {op.Token}).");
            }
            catch (TimeoutException)
            {
                say($"LOST LOCK 2: nobody else applied {op.EventId} within {s_limit.TotalSeconds} s.");
            }
        }
    }

    /// <summary>The events worth reading in the text timeline: both moments and the first concurrent duplicates.</summary>
    public IReadOnlyList<(string EventId, string Why)> Highlights(IReadOnlyList<HoldRecord> holds)
    {
        var duplicates = holds.GroupBy(h => h.EventId)
            .Where(g => g.Key != cancelled && g.Key != refused && g.Select(h => h.Receiver).Distinct().Count() > 1)
            .OrderBy(g => g.Min(h => h.Start))
            .Take(2)
            .Select(g => (g.Key, "delivered to two receivers at once: one applies, the other finds it applied"));
        return [(cancelled, "lost lock 1: session destroyed while the check was in flight"), (refused, "lost lock 2: session destroyed while the write was on its way"), .. duplicates];
    }

    public static string Abbreviate(string session) => session.Length > 8 ? session[..8] : session;
}
