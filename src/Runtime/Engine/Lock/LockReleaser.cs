using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Lets go of held keys. A release deletes the key when nobody touched it since the grant (<c>delete-cas</c>), so
/// released keys do not pile up in Consul and the next lock of it is again one round trip; otherwise it unlocks. A
/// lock granted through the queue leaves the queue in the same transaction. A release that fails is retried in the
/// background until it succeeds or the session is known to be gone; until then the key's gate stays closed, so no
/// caller of this process meets the key held by its own session. Every caller's turn at a key ends here
/// (<see cref="EndTurn"/>). A lock with a minimum hold that is not over yet is not released but handed to
/// <see cref="HoldKeeper"/>.
/// </summary>
internal sealed class LockReleaser(
    ConsulClient client, KeyGates gates, SessionPool sessions, QueueTransactions queue, RecentQueueReleases recentReleases,
    HoldKeeper holds, HeldLocks held, BackgroundWork background, Disposal disposal, ILogger logger)
{
    private static readonly RetryPolicy s_releasing = RetryPolicy.Prompt;

    /// <summary>Where the handles' own background events are logged.</summary>
    public ILogger Logger => logger;

    /// <summary>Releases a handle's key and ends its holder's turn (see the class remarks).</summary>
    public async Task ReleaseAsync(LockHandle handle)
    {
        if (!held.TryRemove(handle) && disposal.HasStarted)
        {
            // The provider's disposal released it already.
            return;
        }

        if (handle.QueueEntry is not null)
        {
            recentReleases.Note(handle.Key);
        }

        if (handle.HoldUntil is { } until && Stopwatch.GetTimestamp() < until && !handle.Session.IsGone && await KeepHeldAsync(handle, until).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            if (gates.HasWaiters(handle.Key) && !handle.Session.IsGone
                && await queue.ReleaseTakingPlaceAsync(handle.Key, handle.Session, handle.FencingToken).ConfigureAwait(false) is { } handoff)
            {
                EndTurn(handle.Key, handle.Session, handoff);
                return;
            }

            if (await TryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false))
            {
                EndTurn(handle.Key, handle.Session);
                return;
            }
        }
        catch (Exception ex)
        {
            // Retried in the background, where a refusal for good retires the session; the turn ends either way.
            Log.ReleaseFailed(logger, handle.Key, ex);
        }

        background.Run(async () =>
        {
            await RetryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false);
            EndTurn(handle.Key, handle.Session);
        });
    }

    /// <summary>
    /// Disposal: one release attempt per held key (the sessions' end releases what this misses); a key in its minimum
    /// hold is handed to a hold session instead, which Consul ends when the hold ends.
    /// </summary>
    public async Task ReleaseOnDisposalAsync(LockHandle handle)
    {
        try
        {
            if (handle.HoldUntil is { } until && Stopwatch.GetTimestamp() < until && !handle.Session.IsGone
                && await holds.HandOverAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry, handle.Document, until, endWhenDue: false).ConfigureAwait(false))
            {
                return;
            }

            await TryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(logger, handle.Key, ex);
        }
    }

    /// <summary>
    /// A minimum hold not over yet: the key goes to a hold session (see <see cref="HoldKeeper"/>) and the holder's turn
    /// ends. When Consul fails meanwhile, this process keeps the key with its own session until the hold ends, then
    /// releases it. False when the key is not the holder's any more: then it is released as usual.
    /// </summary>
    private async Task<bool> KeepHeldAsync(LockHandle handle, long until)
    {
        try
        {
            if (!await holds.HandOverAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry, handle.Document, until, endWhenDue: true).ConfigureAwait(false))
            {
                return false;
            }

            EndTurn(handle.Key, handle.Session);
            return true;
        }
        catch (Exception ex)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
            Log.HoldHandOverFailed(logger, handle.Key, DateTimeOffset.UtcNow + left, ex);
            background.Run(async () =>
            {
                try
                {
                    await Clock.UntilAsync(until, disposal.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Disposed: the sessions' end releases the key.
                }

                await RetryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false);
                EndTurn(handle.Key, handle.Session);
            });
            return true;
        }
    }

    /// <summary>
    /// Releases a grant that no handle was made for (granted on a lost session, or in doubt), retried until done or the
    /// session is gone; the caller's turn at the key goes on.
    /// </summary>
    public Task GiveBackAsync(string key, LockSession session, ulong grantIndex) =>
        RetryReleaseAsync(key, session, grantIndex, queueEntry: null);

    /// <summary>Ends a caller's turn at a key: its session goes back to the pool and the key's gate opens, handing the next local caller <paramref name="handoff"/>.</summary>
    public void EndTurn(string key, LockSession? session, QueueHandoff? handoff = null)
    {
        if (session is not null)
        {
            sessions.Return(session);
        }

        gates.Exit(key, handoff);
    }

    private async Task RetryReleaseAsync(string key, LockSession session, ulong grantIndex, string? queueEntry)
    {
        var outcome = await Retry.UntilDoneAsync(
            () => TryReleaseAsync(key, session, grantIndex, queueEntry),
            s_releasing,
            ex => Log.ReleaseFailed(logger, key, ex),
            () => !session.IsGone,
            disposal.Token).ConfigureAwait(false);
        if (outcome == RetryOutcome.Refused)
        {
            // Refused for good (an ACL change, say): the session must end to free the key; it takes no new locks.
            // Disposal (which stops the retries) destroys the session, which releases the key.
            sessions.Retire(session);
        }
    }

    /// <summary>One release attempt; true when done (released, nothing to release, or the session is gone).</summary>
    private async Task<bool> TryReleaseAsync(string key, LockSession session, ulong grantIndex, string? queueEntry)
    {
        if (!session.IsGone)
        {
            // Untouched since the grant: delete it, so that released keys do not pile up. A holder that came past the
            // queue also reads the queue (a read; it changes nothing): when others wait there, its next acquire of the key
            // queues behind them instead of slipping in ahead of the one this release wakes.
            var release = queueEntry is null
                ? [TxnOperation.DeleteCas(key, grantIndex), TxnOperation.GetTree(QueueLayout.Folder(key))]
                : QueueTransactions.WithExit([TxnOperation.DeleteCas(key, grantIndex)], queueEntry);
            var deleted = await client.TransactAsync(release, key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
            if (deleted.Errors is not { Count: > 0 })
            {
                if (queueEntry is null && QueueTransactions.EntriesIn(deleted, key).Exists(e => !string.IsNullOrEmpty(e.Session)))
                {
                    recentReleases.Note(key);
                }

                Log.Released(logger, key);
                return true;
            }

            var answer = await client.TransactAsync(QueueTransactions.WithExit([TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue)], queueEntry), key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
            switch (TxnRefusals.RefusalOf(answer))
            {
                case null:
                    Log.Released(logger, key);
                    return true;
                case (TxnRefusal.InvalidSession, _):
                    session.MarkGone("Consul no longer knows the session");
                    if (queueEntry is not null)
                    {
                        await queue.LeaveAsync(key, queueEntry).ConfigureAwait(false);
                    }

                    return true;
                case (TxnRefusal.KeyChanged, _):
                    // Not ours any more (released by someone else, taken over, deleted): nothing to release.
                    break;
                case var (_, why):
                    throw new ConsulLockException($"Consul at {client.Address} refused to release the lock '{key}': {why}.", key, 409, innerException: null);
            }
        }

        // Released by Consul when it ended the session, or by someone else: a key that nobody holds is removed, so that
        // it does not stay behind.
        await DeleteIfFreeAsync(key).ConfigureAwait(false);
        if (queueEntry is not null)
        {
            await queue.LeaveAsync(key, queueEntry).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// Deletes <paramref name="key"/> when it is a lock that nobody holds, at the index read (so a grant made meanwhile
    /// is never touched); best effort: a failure leaves the key for its next holder's release to remove.
    /// </summary>
    private async Task DeleteIfFreeAsync(string key)
    {
        if (disposal.HasStarted)
        {
            // The provider is gone with its connections; its sessions' end released the keys.
            return;
        }

        try
        {
            var (entry, _) = await client.ReadKeyAsync(key, CancellationToken.None).ConfigureAwait(false);
            // Consul keeps a key's value when it releases it for an ended session: a holder document of ours is no data.
            if (entry is not null && LockKeyFormat.IsFreeLock(entry) && (string.IsNullOrEmpty(entry.Value) || HolderDocument.TryRead(entry.Value) is not null))
            {
                await client.TransactAsync([TxnOperation.DeleteCas(key, entry.ModifyIndex)], key, $"remove the free lock key '{key}'", CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ConsulLockException ex)
        {
            Log.ReleaseFailed(logger, key, ex);
        }
    }
}
