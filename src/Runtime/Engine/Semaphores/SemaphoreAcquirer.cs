using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The try loop of one permit (see <see cref="SemaphoreLayout"/>):
/// <list type="bullet">
/// <item>Join: one transaction locks the contender key with the attempt's own session and reads the folder.</item>
/// <item>Grant: when fewer than the limit hold and this contender's turn has come, one transaction writes <c>.lock</c>
/// with this session among the holders (check-and-set at the index read, dead holders pruned) and touches the
/// contender key (so the waiter of ours behind it learns it moved up); the new index of <c>.lock</c> is the fencing
/// token. A refused check-and-set is contention: read again, at once.</item>
/// <item>Wait, without waking everyone at each release: our waiters take turns in the order they joined. The first
/// one (or the ones that free permits admit) blocks on the folder, as the Go client does; every other one watches
/// only the contender key of ours just before its own (<see cref="KeyWatches"/>), which changes when that one is
/// granted, gives up or dies. So a release wakes one waiting process, whatever the number waiting. Every wait is
/// bounded by one session TTL, after which it reads the folder again (a stuck waiter ahead costs a TTL at most).</item>
/// </list>
/// Transient failures are retried within the caller's wait; a conflict (<c>.lock</c> not a semaphore's, or another
/// limit) ends the acquire.
/// </summary>
internal sealed class SemaphoreAcquirer(
    ConsulClient client, SessionPool sessions, KeyWatches watches, Semaphores owner, Disposal disposal, TimeoutCause timeouts, TimeSpan folderWait, TimeSpan heldKeyWatchDelay,
    ILogger logger)
{
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(50);

    /// <summary>Acquires a permit; null when the attempt's deadline passed while the limit was reached.</summary>
    public async Task<PermitHandle?> AcquireAsync(PermitAttempt attempt)
    {
        var prefix = attempt.Prefix;
        var folder = SemaphoreLayout.Folder(prefix);
        var retry = new Backoff(s_firstRetry, RetryPolicy.HealNoticedWithin);
        IReadOnlyList<KvEntry>? entries = null;
        ulong readIndex = 0;
        while (true)
        {
            disposal.ThrowIfStopped(attempt.CancellationToken);
            try
            {
                if (attempt.Session is not { IsLost: false } session)
                {
                    if (attempt.Session is { } ended)
                    {
                        // Its session ended while it waited: its contender key went with it; leave what is left, start anew.
                        owner.Releaser.GiveUp(prefix, ended, attempt.Pending);
                        attempt.Session = null;
                        attempt.Pending = null;
                    }

                    attempt.Session = session = await sessions.RentOwnAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
                    entries = await JoinAsync(attempt, session).ConfigureAwait(false);
                    if (entries is null)
                    {
                        continue;
                    }

                    readIndex = 0;
                }
                else if (entries is null)
                {
                    var read = await client.GetKeyAsync(folder, recurse: true, 0, default, consistent: false, attempt.CancellationToken).ConfigureAwait(false);
                    (entries, readIndex) = (read.Entries, read.Index);
                }

                var view = SemaphoreView.Read(prefix, attempt.Limit, entries, session.Id);
                if (view.Own is null)
                {
                    // Our contender key is gone (an operator, or the session's end): join again with a live session.
                    if (await session.ConfirmAliveAsync(client.RequestTimeout).ConfigureAwait(false) != true)
                    {
                        session.MarkGone(LockSession.GoneReason);
                    }
                    else
                    {
                        entries = await JoinAsync(attempt, session).ConfigureAwait(false);
                    }

                    continue;
                }

                var position = view.PositionOf(session.Id);
                if (view.Holders.Contains(session.Id) || position < view.Free)
                {
                    if (await GrantAsync(attempt, session, view).ConfigureAwait(false) is { } handle)
                    {
                        return handle;
                    }

                    entries = null;
                    continue;
                }

                attempt.FoundBusy = true;
                if (attempt.Deadline.HasPassed)
                {
                    await ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
                    return null;
                }

                if (position == 0)
                {
                    Log.PermitWaiting(logger, prefix, $"a free permit ({view.Holders.Count} of {view.Limit} held)");
                    var wait = attempt.Deadline.AtMost(TimeSpan.FromTicks(Math.Min(folderWait.Ticks, attempt.Settings.Ttl.Ticks)));
                    var changed = await client.GetKeyAsync(
                        folder, recurse: true, SemaphoreView.IndexOf(entries, readIndex), wait, consistent: false, attempt.CancellationToken).ConfigureAwait(false);
                    (entries, readIndex) = (changed.Entries, changed.Index);
                }
                else
                {
                    var ahead = view.Waiting[position - 1];
                    Log.PermitWaiting(logger, prefix, $"the contender before this one (session {ahead.Session}) to be granted or leave");
                    await WatchUntilMovedAsync(attempt, ahead).ConfigureAwait(false);
                    entries = null;
                }

                retry.Reset();
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && !attempt.Deadline.HasPassed)
            {
                // Within the caller's wait: a failing Consul is waited out with a growing back-off (contract, section 4).
                Log.PermitWaiting(logger, prefix, "Consul, failing: " + ex.Message);
                entries = null;
                await disposal.PauseAsync(attempt.Deadline.AtMost(retry.Next()), attempt.CancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Locks the contender key with the session and reads the folder, in one transaction; null when the session turned out gone.</summary>
    private async Task<IReadOnlyList<KvEntry>?> JoinAsync(PermitAttempt attempt, LockSession session)
    {
        var prefix = attempt.Prefix;
        var join = client.TransactAsync(
            [TxnOperation.Lock(SemaphoreLayout.ContenderKey(prefix, session.Id), session.Id, SemaphoreLayout.FlagValue, SemaphoreLayout.ContenderValue(holding: false)),
             TxnOperation.GetTree(SemaphoreLayout.Folder(prefix))],
            prefix, $"contend for the semaphore '{prefix}'", CancellationToken.None);
        // Sent without the caller's token: giving up waits for its answer, then removes what it wrote.
        attempt.Pending = join;
        var answer = await join.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
        if (TxnRefusals.RefusalOf(answer) is var (refusal, why))
        {
            if (refusal is TxnRefusal.InvalidSession or TxnRefusal.LockDelay)
            {
                session.MarkGone(LockSession.GoneReason);
                return null;
            }

            throw new ConsulLockException($"Consul at {client.Address} refused the contender key of the semaphore '{prefix}': {why}.", prefix, 409, innerException: null);
        }

        var folder = SemaphoreLayout.Folder(prefix);
        return [.. (answer.Results ?? []).Select(r => r.KV).OfType<KvEntry>().Where(e => e.Key.StartsWith(folder, StringComparison.Ordinal)).DistinctBy(e => e.Key)];
    }

    /// <summary>Writes this session into <c>.lock</c>; a handle when it committed, null when someone changed it first (read again).</summary>
    private async Task<PermitHandle?> GrantAsync(PermitAttempt attempt, LockSession session, SemaphoreView view)
    {
        var prefix = attempt.Prefix;
        var lockKey = SemaphoreLayout.LockKey(prefix);
        var contenderKey = SemaphoreLayout.ContenderKey(prefix, session.Id);
        var document = SemaphoreLayout.Encode(attempt.Limit, view.Holders.Append(session.Id));
        var contenderValue = SemaphoreLayout.ContenderValue(holding: true);
        var grant = client.TransactAsync(
            [TxnOperation.Cas(lockKey, document, SemaphoreLayout.FlagValue, view.LockEntry?.ModifyIndex ?? 0),
             TxnOperation.Lock(contenderKey, session.Id, SemaphoreLayout.FlagValue, contenderValue)],
            prefix, $"take a permit of the semaphore '{prefix}'", CancellationToken.None);
        attempt.Pending = grant;
        var answer = await grant.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
        if (TxnRefusals.RefusalOf(answer) is var (refusal, why))
        {
            return refusal switch
            {
                TxnRefusal.KeyChanged => null,
                TxnRefusal.InvalidSession or TxnRefusal.LockDelay => SessionGone(session),
                _ => throw new ConsulLockException($"Consul at {client.Address} refused a permit of the semaphore '{prefix}': {why}.", prefix, 409, innerException: null),
            };
        }

        // Consul answers a write with the entry and no value: the value is the one written.
        var after = (answer.Results ?? []).Select(r => r.KV).OfType<KvEntry>().ToList();
        var lockEntry = after.LastOrDefault(e => e.Key == lockKey)
            ?? throw new ConsulLockException($"Consul's answer to a permit of the semaphore '{prefix}' lacks '{lockKey}'.", prefix, null, null);
        var contender = after.LastOrDefault(e => e.Key == contenderKey)
            ?? throw new ConsulLockException($"Consul's answer to a permit of the semaphore '{prefix}' lacks '{contenderKey}'.", prefix, null, null);
        lockEntry.Value = SemaphoreLayout.Base64(document);
        contender.Value = SemaphoreLayout.Base64(contenderValue);
        if (session.IsLost)
        {
            // Granted on a session that ended meanwhile: Consul may prune it any moment. Give it back, start anew.
            return SessionGone(session);
        }

        var sessionId = session.Id;
        var contenderMonitor = new LossMonitor(
            watches, contenderKey, contender, session,
            e => e is null ? "the contender key was deleted" : e.Session == sessionId ? null : "the contender key is no longer locked by the permit's session", logger);
        var holderMonitor = new LossMonitor(
            watches, lockKey, lockEntry, session,
            e => SemaphoreLayout.Holds(e, sessionId) ? null : "the permit's session was dropped from the semaphore's holders", logger);
        var handle = new PermitHandle(owner, prefix, attempt.Limit, session, lockEntry.ModifyIndex, contenderMonitor, holderMonitor);
        contenderMonitor.Start(heldKeyWatchDelay);
        holderMonitor.Start(heldKeyWatchDelay);
        Log.PermitAcquired(logger, prefix, sessionId, lockEntry.ModifyIndex);
        return handle;
    }

    private static PermitHandle? SessionGone(LockSession session)
    {
        session.MarkGone(LockSession.GoneReason);
        return null;
    }

    /// <summary>Waits until the contender <paramref name="ahead"/> changes (granted, gone), at most one session TTL and never past the deadline.</summary>
    private async Task WatchUntilMovedAsync(PermitAttempt attempt, KvEntry ahead)
    {
        var moved = new ContenderMoved(ahead);
        using (watches.Subscribe(ahead.Key, ahead.ModifyIndex, ahead, moved, linger: false))
        {
            try
            {
                await moved.Task.WaitAsync(attempt.Deadline.AtMost(attempt.Settings.Ttl), attempt.CancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Quiet for a TTL, or the deadline: the loop reads the folder and decides.
            }
        }
    }

    /// <summary>At the deadline: <see cref="ConsulLockTimeoutException"/> when Consul failed or is silent (<see cref="TimeoutCause"/>), else the caller gets null.</summary>
    internal Task ThrowIfConsulFailedAsync(PermitAttempt attempt) =>
        timeouts.ThrowIfConsulFailedAsync(attempt.Prefix, attempt.Started, attempt.FoundBusy, attempt.Deadline.Timeout);

    /// <summary>Ends when a contender key is no longer as seen: granted (its holder touches it), left, or gone with its session.</summary>
    private sealed class ContenderMoved(KvEntry seen) : KeyWaiter
    {
        protected override bool Ends(KvEntry? entry) => entry is null || entry.ModifyIndex != seen.ModifyIndex || entry.Session != seen.Session;
    }
}
