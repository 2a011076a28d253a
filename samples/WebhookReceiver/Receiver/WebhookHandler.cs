using ConsulLock.Aop;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Receiver;

/// <summary>
/// The webhook receiver's business logic with ConsulLock.Aop. Providers deliver each event at least once and a load
/// balancer spreads the copies over instances, so two instances may get the same event at the same moment. The lock
/// on <c>webhook_receiver/{eventId}</c> makes "has this event been applied? if not, apply it and record it" one
/// step across all instances; the fencing token, passed to the store, keeps out a holder that lost its lock.
/// </summary>
public sealed partial class WebhookHandler(IConsulLockProvider locks, StoreClient store, HoldLog holds)
{
    /// <summary>The effect's own work (a payment captured, an email sent): long enough for duplicates to collide.</summary>
    private static readonly TimeSpan s_effectTime = TimeSpan.FromMilliseconds(30);

    [ConsulLocked("webhook_receiver/{eventId}", WaitTimeout = "5s", LockDelay = "1s", SessionTtl = "10s")]
    public partial Task<HoldOutcome> HandleAsync(string eventId, CancellationToken cancellationToken);

    // The body runs while this instance holds the lock. Its token fires when the lock is lost, which cancels whatever
    // is in flight; a write already on the wire is stopped by the store's fencing instead.
    private async Task<HoldOutcome> HandleCoreAsync(string eventId, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        var hold = holds.Begin(eventId, lockContext);
        var outcome = HoldOutcome.Lost;
        try
        {
            var seen = await store.CheckAsync(eventId, lockContext, cancellationToken);
            if (seen != StoreReply.NotApplied)
            {
                outcome = seen == StoreReply.AlreadyApplied ? HoldOutcome.Duplicate : HoldOutcome.Refused;
                return outcome;
            }

            await Task.Delay(s_effectTime, cancellationToken);
            outcome = await store.ApplyAsync(eventId, lockContext, cancellationToken) == StoreReply.Applied ? HoldOutcome.Applied : HoldOutcome.Refused;
            return outcome;
        }
        finally
        {
            hold.End(outcome);
        }
    }
}
