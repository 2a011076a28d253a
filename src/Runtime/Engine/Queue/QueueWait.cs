using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Waits for this process's turn at a busy key (see <see cref="QueueLayout"/>): takes a place in the key's queue (once
/// per session), then watches the entry just before its own until that entry is gone, or, when first, the key itself.
/// Every wait is bounded by one session TTL: then it looks for itself, so a stuck predecessor or a watch that hangs
/// costs a TTL at most, and a caller that waits that long is told in the log what it waits for.
/// </summary>
internal sealed class QueueWait(ConsulClient client, SessionPool sessions, KeyWatches watches, QueueTransactions queue, TimeoutCause timeouts, ILogger logger)
{

    private enum WaitEnd
    {
        Changed,
        Quiet,
        TimedOut,
    }

    /// <summary>
    /// Waits until the attempt may try the key; null when the deadline passed first. <paramref name="seen"/> is the key as
    /// last read (null: not read yet), at Consul index <paramref name="readIndex"/>.
    /// </summary>
    public async Task<NextTry?> WaitForTurnAsync(LockAttempt attempt, KvEntry? seen, ulong readIndex)
    {
        var key = attempt.Key;
        var session = attempt.Session ??= await sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
        while (true)
        {
            List<KvEntry> entries;
            if (attempt.Joined is { } given && attempt.QueueSession == session.Id)
            {
                entries = given;
                attempt.Joined = null;
            }
            else if (attempt.QueueSession != session.Id || attempt.QueueEntry is null)
            {
                if (attempt.QueueEntry is { } stale)
                {
                    queue.LeaveInBackground(key, stale);
                }

                // Written before the request is sent: whatever happens to it, giving up removes the entry.
                attempt.QueueEntry = QueueLayout.Entry(key, session.Id);
                attempt.QueueSession = session.Id;
                var joining = queue.JoinAsync(key, attempt.QueueEntry, session.Id);
                attempt.PendingJoin = joining;
                var answer = await joining.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
                attempt.PendingJoin = null;
                if (TxnRefusals.RefusalOf(answer) is var (refusal, why))
                {
                    if (refusal is TxnRefusal.InvalidSession or TxnRefusal.LockDelay)
                    {
                        // An entry is named after its session, so a lock-delay on it means that this very session was
                        // invalidated while it held the entry (Consul checks the delay before the session).
                        return SessionEnded(attempt, session);
                    }

                    throw new ConsulLockException($"Consul at {client.Address} refused to queue for the lock '{key}': {why}.", key, 409, innerException: null);
                }

                entries = QueueTransactions.EntriesIn(answer, key);
            }
            else if (attempt.QueueRead)
            {
                // Read a moment ago and found first: the key is what is waited on now.
                entries = [];
            }
            else
            {
                entries = await queue.ReadAsync(key, attempt.CancellationToken).ConfigureAwait(false);
                if (entries.Find(e => e.Key == attempt.QueueEntry) is not { } own)
                {
                    // Our entry is gone (its write never landed, or an operator removed it): take a place again.
                    attempt.QueueSession = null;
                    continue;
                }

                if (own.Session != session.Id)
                {
                    // Consul released our entry: it does that only when the session ends.
                    return SessionEnded(attempt, session);
                }
            }

            attempt.QueueRead = false;
            var (predecessor, dead) = QueueLayout.FindPredecessor(entries, attempt.QueueEntry!, session.Id, sessions.IsOurs);
            if (dead.Count > 0)
            {
                queue.RemoveDeadInBackground(key, dead);
            }

            string waitingFor;
            if (predecessor is null)
            {
                if (seen is null)
                {
                    // First in the queue, the key not read yet: it is usually free (the holder before us left it).
                    attempt.QueueRead = true;
                    return NextTry.LockIfAbsent;
                }

                // First: behind a holder with no queue entry (a fast path of ours, Consul's Go client) or a free key.
                if (string.IsNullOrEmpty(seen.Session))
                {
                    return NextTry.LockAt(seen.ModifyIndex);
                }

                waitingFor = "the key, held by " + HolderOf(seen);
                Log.Waiting(logger, key, waitingFor);
                var change = new KeyChange(seen.ModifyIndex);
                var ended = await WatchUntilAsync(attempt, key, readIndex, seen, change, linger: true).ConfigureAwait(false);
                if (ended != WaitEnd.Quiet)
                {
                    return ended == WaitEnd.Changed ? change.Next : null;
                }
            }
            else
            {
                waitingFor = $"the process queued before this one (session {predecessor.Session})";
                Log.Waiting(logger, key, waitingFor);
                var gone = new EntryGone(predecessor);
                switch (await WatchUntilAsync(attempt, predecessor.Key, predecessor.ModifyIndex, predecessor, gone, linger: false).ConfigureAwait(false))
                {
                    case WaitEnd.Changed when gone.Left is null:
                        // It released (its release deletes the key with its entry) or gave up: try at once.
                        return NextTry.LockIfAbsent;
                    case WaitEnd.Changed:
                        // Its session ended while it waited or held: a process died, and others before it may have too.
                        // Read the queue again (which removes what the dead left) rather than try the key at once.
                        continue;
                    case WaitEnd.TimedOut:
                        return null;
                }
            }

            // Quiet for a whole TTL: a waiter ahead may be stuck (paused, cut off) while the key is free, and its session
            // would hold the queue up until Consul ends it; or our own watch hangs on a connection that died without an
            // error, for up to its whole wait. Look at the key (the warning names who holds it); take it when free.
            KvEntry? now;
            ulong index;
            try
            {
                (now, index) = await client.ReadKeyAsync(key, attempt.CancellationToken).ConfigureAwait(false);
            }
            catch (ConsulLockException)
            {
                WarnStuck(attempt, waitingFor);
                throw;
            }

            WarnStuck(
                attempt,
                now?.Session is not { Length: > 0 } ? waitingFor
                : predecessor is null ? "the key, held by " + HolderOf(now)
                : waitingFor + "; the key is held by " + HolderOf(now));
            if (now is null || LockKeyFormat.IsFreeLock(now))
            {
                return now is null ? NextTry.LockIfAbsent : NextTry.LockAt(now.ModifyIndex);
            }

            if (sessions.IsOurs(now.Session!))
            {
                // Held by a session of ours while no handle of ours holds it (we are inside the key's gate): a grant
                // whose answer was lost. Waiting would wait on ourselves until that session ends; the read that
                // follows takes it over.
                return NextTry.ReadKey;
            }

            LockTelemetry.LinkToHolder(attempt, now);
            (seen, readIndex) = (now, index);
        }
    }

    /// <summary>How a waiting message names the holder of <paramref name="held"/>: its instance when it wrote a holder document, and its session.</summary>
    private static string HolderOf(KvEntry held) =>
        HolderDocument.TryRead(held.Value) is { } document
            ? $"{document.Instance} (session {held.Session})"
            : $"session {held.Session}";

    /// <summary>The attempt's session ended while it waited: it continues with a new one, and a new place in the queue.</summary>
    private NextTry SessionEnded(LockAttempt attempt, LockSession session)
    {
        session.MarkGone("Consul no longer knows the session");
        attempt.DropSession(sessions);
        return NextTry.ReadKey;
    }

    private void WarnStuck(LockAttempt attempt, string waitingFor)
    {
        var since = attempt.WaitStarted ?? attempt.Started;
        if (client.FailingSince(since) is { } failure)
        {
            waitingFor = $"Consul, failing: {failure.Message}";
        }

        Log.WaitStuck(logger, attempt.Key, Stopwatch.GetElapsedTime(since).TotalSeconds, waitingFor);
    }

    /// <summary>
    /// Waits until <paramref name="waiter"/> sees the change it waits for on <paramref name="key"/>, at most one session
    /// TTL (then <see cref="WaitEnd.Quiet"/>: the caller looks for itself) and never past the deadline.
    /// </summary>
    private async Task<WaitEnd> WatchUntilAsync(LockAttempt attempt, string key, ulong minIndex, KvEntry seen, KeyWaiter waiter, bool linger)
    {
        if (attempt.Deadline.HasPassed)
        {
            await timeouts.ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
            return WaitEnd.TimedOut;
        }

        var limit = attempt.Deadline.AtMost(attempt.Settings.Ttl);
        using (watches.Subscribe(key, minIndex, seen, waiter, linger))
        {
            try
            {
                await waiter.Task.WaitAsync(limit, attempt.CancellationToken).ConfigureAwait(false);
                return WaitEnd.Changed;
            }
            catch (TimeoutException)
            {
                if (!attempt.Deadline.HasPassed)
                {
                    return WaitEnd.Quiet;
                }

                await timeouts.ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
                return WaitEnd.TimedOut;
            }
        }
    }
}
