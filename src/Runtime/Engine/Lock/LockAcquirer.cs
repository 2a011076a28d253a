using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The try loop of one acquire, run by the caller inside the key's gate, with as few round trips as the guarantees
/// allow:
/// <list type="bullet">
/// <item>Locking is one transaction: a check that the key is as last seen (<c>check-not-exists</c> first, since a free
/// key is usually absent, else <c>check-index</c>) plus <c>lock</c>, whose result carries the new ModifyIndex: the
/// fencing token. A key that exists is read before it is locked, so data that is not a lock is never overwritten.</item>
/// <item>A busy key is waited on in its queue (<see cref="QueueWait"/>), never with a retry sleep; only Consul's
/// lock-delay, which has no event, is waited out with a growing back-off.</item>
/// <item>A key held by a session of ours with no handle (a grant whose answer was lost) is taken over in the same
/// transaction; transient errors are retried within the caller's wait.</item>
/// </list>
/// </summary>
internal sealed class LockAcquirer(
    ConsulClient client, SessionPool sessions, KeyGates gates, KeyWatches watches, QueueWait queueWait, QueueTransactions queue,
    RecentQueueReleases recentReleases, LockReleaser releaser, HeldLocks held, BackgroundWork background, Disposal disposal,
    TimeSpan heldKeyWatchDelay, ILogger logger)
{
    private static readonly TimeSpan s_firstLockDelayBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxLockDelayBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxRetry = RetryPolicy.HealNoticedWithin;

    /// <summary>Acquires the attempt's key; null when its deadline passed while another holder kept it.</summary>
    public async ValueTask<LockHandle?> AcquireAsync(LockAttempt attempt)
    {
        var key = attempt.Key;
        var lockDelayPause = s_firstLockDelayBackoff;
        var retry = new Backoff(s_firstRetry, s_maxRetry);
        // A free key is usually absent (releases delete it): with a session at hand, try to create it held before
        // reading anything. Without one, read first, so that a busy key is waited on without creating a session.
        var next = sessions.HasLive(attempt.Settings) ? NextTry.LockIfAbsent : NextTry.ReadKey;
        string? orphan = null;
        // Released here from the queue a moment ago: the key is contended, so take a place in its queue before trying.
        var joinFirst = (next.ExpectsAbsent && recentReleases.TakeIfRecent(key)) || attempt.QueueFirst;
        if (gates.TakeHandoff(key) is { } handoff)
        {
            // The caller before us in this process took our place in the queue as it released the key.
            try
            {
                attempt.Session = await sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Cancelled, disposed, or no session to be had: the place is ours alone to give back.
                queue.LeaveUnusedHandoff(key, handoff);
                throw;
            }

            if (attempt.Session.Id == handoff.Session)
            {
                (attempt.QueueEntry, attempt.QueueSession, attempt.Joined) = (handoff.Entry, handoff.Session, handoff.Entries);
                attempt.WaitStarted = Stopwatch.GetTimestamp();
                joinFirst = true;
            }
            else
            {
                queue.LeaveUnusedHandoff(key, handoff);
            }
        }

        while (true)
        {
            disposal.ThrowIfStopped(attempt.CancellationToken);
            try
            {
                if (joinFirst)
                {
                    joinFirst = false;
                    if (await queueWait.WaitForTurnAsync(attempt, seen: null, readIndex: 0).ConfigureAwait(false) is not { } turn)
                    {
                        return null;
                    }

                    next = turn;
                    continue;
                }

                if (next.ReadsKeyFirst)
                {
                    var (seen, readIndex) = await client.ReadKeyAsync(key, attempt.CancellationToken).ConfigureAwait(false);
                    if (seen is not null && !LockKeyFormat.IsLockKey(seen))
                    {
                        throw LockKeyFormat.Conflict(key, seen);
                    }

                    orphan = null;
                    if (seen?.Session is { Length: > 0 } holder)
                    {
                        if (sessions.IsOurs(holder))
                        {
                            // Inside the gate no handle of ours holds the key: this is an acquire of ours whose answer
                            // never came. Take it over in the same transaction instead of waiting on ourselves.
                            orphan = holder;
                        }
                        else
                        {
                            attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                            LockTelemetry.LinkToHolder(attempt, seen);
                            if (await queueWait.WaitForTurnAsync(attempt, seen, readIndex).ConfigureAwait(false) is not { } turn)
                            {
                                return null;
                            }

                            // Lock where the wait ended, without reading the key again (the transaction's check catches
                            // anyone faster), or read it again.
                            next = turn;
                            continue;
                        }
                    }

                    next = seen is null ? NextTry.LockIfAbsent : NextTry.LockAt(seen.ModifyIndex);
                }

                attempt.Session ??= await sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
                var session = attempt.Session;
                var expectedAbsent = next.ExpectsAbsent && orphan is null;
                var answer = await SendLockAsync(attempt, next, orphan).ConfigureAwait(false);
                next = NextTry.ReadKey;
                retry.Reset();

                switch (TxnRefusals.RefusalOf(answer))
                {
                    case null:
                        if (await GrantedAsync(attempt, answer).ConfigureAwait(false) is { } handle)
                        {
                            return handle;
                        }

                        // Granted on a session declared lost meanwhile and given back: lock again afresh.
                        continue;
                    case (TxnRefusal.PermissionDenied, var why):
                        throw new ConsulLockException(
                            $"Consul at {client.Address} refused to acquire the lock '{key}': 403 Forbidden ({why}). The ACL token lacks a permission: locks need 'key' write on the lock keys and 'session' write.",
                            key, 403, innerException: null);
                    case (TxnRefusal.InvalidSession, _):
                        session.MarkGone("Consul no longer knows the session");
                        attempt.DropSession(sessions);
                        break;
                    case (TxnRefusal.LockDelay, _):
                        // Consul refuses the key for the lock-delay after its holder's session was invalidated, and
                        // offers no event for its end: back off, growing, within the caller's deadline.
                        attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                        if (attempt.Deadline.HasPassed)
                        {
                            return null;
                        }

                        Log.Waiting(logger, key, "Consul's lock-delay after the holder's session was invalidated");
                        await disposal.PauseAsync(attempt.Deadline.AtMost(lockDelayPause), attempt.CancellationToken).ConfigureAwait(false);
                        lockDelayPause = lockDelayPause * 2 < s_maxLockDelayBackoff ? lockDelayPause * 2 : s_maxLockDelayBackoff;
                        break;
                    case (TxnRefusal.KeyChanged, _) when expectedAbsent && answer.Errors![0].OpIndex == 0 && attempt.QueueEntry is null:
                        // The key exists: usually held, as a first try on a contended key finds it. Queue without
                        // reading it (a waiter behind others never needs it); the first in the queue reads it when its
                        // try fails.
                        attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                        joinFirst = true;
                        break;
                    case (TxnRefusal.KeyChanged, _):
                        // The key changed since it was seen (a check failed) or was taken in between: read it again.
                        break;
                    case var (_, why):
                        throw new ConsulLockException($"Consul at {client.Address} refused to acquire the lock '{key}': {why}.", key, 409, innerException: null);
                }
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && ex is not ConsulLockTimeoutException)
            {
                // No answer, or a transient one: try again within the caller's wait. A lock request in doubt may have
                // been granted; the next read finds it held by our session and takes it over.
                attempt.Pending = null;
                attempt.FailingSince ??= Stopwatch.GetTimestamp();
                var failingFor = Stopwatch.GetElapsedTime(attempt.FailingSince.Value);
                var left = attempt.Deadline.IsEndless ? client.RequestTimeout - failingFor : attempt.Deadline.Remaining;
                if (left <= TimeSpan.Zero)
                {
                    throw attempt.Deadline.IsEndless
                        ? new ConsulLockException($"Could not acquire the lock '{key}': Consul kept failing for {failingFor.TotalSeconds:0.#} s. Last error: {ex.Message}", key, ex.StatusCode, ex)
                        : new ConsulLockTimeoutException(key, attempt.Deadline.Timeout, ex);
                }

                next = attempt.InDoubt ? NextTry.ReadKey : next;
                Log.Waiting(logger, key, "Consul, failing: " + ex.Message);
                await disposal.PauseAsync(retry.Next(left), attempt.CancellationToken).ConfigureAwait(false);
                continue;
            }

            attempt.FailingSince = null;
        }
    }

    /// <summary>
    /// Sends the lock transaction: the check of <paramref name="next"/>, the take-over of an <paramref name="orphan"/>
    /// of ours, and the lock. Sent without the caller's token: a cancelled caller returns at once, but the request runs
    /// to its answer, so that giving up knows exactly what Consul granted and releases that.
    /// </summary>
    private async Task<TxnResponse> SendLockAsync(LockAttempt attempt, NextTry next, string? orphan)
    {
        var key = attempt.Key;
        var operations = new List<TxnOperation>(3)
        {
            next.Index == 0 ? TxnOperation.CheckNotExists(key) : TxnOperation.CheckIndex(key, next.Index),
        };
        if (orphan is not null)
        {
            // Consul would grant the key again to a session that holds it without a new index; unlocking first keeps
            // fencing tokens strictly increasing.
            operations.Add(TxnOperation.Unlock(key, orphan, ConsulClient.LockFlagValue));
        }

        // Who holds it rides on the lock request itself (no request of its own); Consul's Go client ignores the value.
        attempt.Document = HolderDocument.Write(attempt.InstanceName, attempt.TraceParent);
        operations.Add(TxnOperation.Lock(key, attempt.Session!.Id, ConsulClient.LockFlagValue, attempt.Document));
        attempt.InDoubt = true;
        var sending = client.TransactAsync(operations, key, $"acquire the lock '{key}'", CancellationToken.None);
        attempt.Pending = sending;
        var answer = await sending.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
        attempt.Pending = null;
        attempt.InDoubt = false;
        return answer;
    }

    /// <summary>
    /// Turns a committed lock transaction into a handle that watches for loss; null when the grant came on a session
    /// declared lost meanwhile (it is given back, and the caller locks again with a fresh session).
    /// </summary>
    private async Task<LockHandle?> GrantedAsync(LockAttempt attempt, TxnResponse answer)
    {
        var key = attempt.Key;
        var session = attempt.Session!;
        var entry = answer.Results?.LastOrDefault(r => r.KV is not null)?.KV;
        if (entry is null || entry.Key != key || entry.Session != session.Id)
        {
            // Consul stored another key than asked (it rewrote the name) or answered oddly: never a handle on it, and
            // what it did lock is let go at once.
            attempt.InDoubt = true;
            if (entry is not null && entry.Key != key && entry.Session == session.Id)
            {
                background.Run(() => client.TransactAsync(
                    [TxnOperation.Unlock(entry.Key, session.Id, ConsulClient.LockFlagValue)], entry.Key, $"release the key '{entry.Key}'", CancellationToken.None));
            }

            throw new ConsulLockException(
                $"Consul's answer to acquire the lock '{key}' does not show that key held by our session" +
                (entry is null ? "." : $" (it names '{entry.Key}')."),
                key, statusCode: null, innerException: null);
        }

        if (session.IsLost)
        {
            // Granted on a session declared lost meanwhile (no renewal acknowledged for a TTL, though Consul still
            // honoured it): a handle would be lost at birth. Give the key back; the caller locks again afresh.
            await releaser.GiveBackAsync(key, session, entry.ModifyIndex).ConfigureAwait(false);
            attempt.DropSession(sessions);
            return null;
        }

        var queueEntry = attempt.QueueSession == session.Id ? attempt.QueueEntry : null;
        if (queueEntry is null && attempt.QueueEntry is { } stale)
        {
            // Written with a session that was replaced meanwhile: nobody waits there any more.
            queue.LeaveInBackground(key, stale);
        }

        var monitor = new LossMonitor(watches, key, entry, session, e => LockKeyFormat.LossReason(e, session.Id), logger);
        var handle = new LockHandle(releaser, monitor, session, entry, attempt.Marker, queueEntry, attempt.Holds) { Document = attempt.Document };
        attempt.Session = null;
        attempt.QueueEntry = null;
        held.Add(handle);
        monitor.Start(heldKeyWatchDelay);
        if (attempt.WaitStarted is { } since)
        {
            LockTelemetry.WaitDuration.Record(LockTelemetry.Seconds(since));
        }

        Log.Acquired(logger, key, handle.SessionId, handle.FencingToken);
        return handle;
    }
}
