using System.Collections.Concurrent;
using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Acquires and releases locks in the Go client's format, with as few round trips as the guarantees allow:
/// <list type="bullet">
/// <item>Locking is one transaction: a check that the key is as last seen (<c>check-not-exists</c> first, since a
/// free key is usually absent, else <c>check-index</c>) plus <c>lock</c>, whose result carries the new ModifyIndex:
/// the fencing token. A key that exists is read before it is locked, so data that is not a lock is never overwritten.</item>
/// <item>A release deletes the key when nobody touched it since the grant (<c>delete-cas</c>), so released keys do
/// not pile up in Consul, and the next lock of it is again one round trip; otherwise it unlocks.</item>
/// <item>A busy key is waited on with a blocking query on that key alone, never a retry sleep; only Consul's
/// lock-delay, which has no event, is waited out with a growing back-off.</item>
/// <item>Section 6 of the contract: a lock request whose answer never came is cleaned up (unlocked with its session)
/// before the key's gate opens again; a release that fails is retried until done; transient errors are retried
/// within the caller's wait.</item>
/// </list>
/// </summary>
internal sealed class LockEngine : IAsyncDisposable
{
    private static readonly TimeSpan s_firstLockDelayBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxLockDelayBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_probeTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_contendedWindow = TimeSpan.FromSeconds(1);

    private readonly ConsulClient _client;
    private readonly KeyGates _gates;
    private readonly ConcurrentDictionary<LockHandle, byte> _held = new();
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private readonly ConcurrentDictionary<string, long> _queuedReleases = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposing = new(); // never disposed: tokens of it may still be read after disposal

    public LockEngine(ConsulLockOptions options, ConsulClient client, ILogger logger)
    {
        _client = client;
        Logger = logger;
        _gates = new KeyGates((key, place) => RunInBackground(() => LeaveQueueAsync(key, place.Entry, pending: null, place.ModifyIndex)));
        Sessions = new SessionPool(options, client, logger);
        Watches = new KeyWatches(client, logger, options.WatchWait, options.PollInterval);
        HeldKeyWatchDelay = options.HeldKeyWatchDelay;
    }

    /// <summary>How long after a grant a held key's watch starts when the key is not watched yet.</summary>
    public TimeSpan HeldKeyWatchDelay { get; }

    public ILogger Logger { get; }

    public SessionPool Sessions { get; }

    public KeyWatches Watches { get; }

    /// <summary>Acquires <paramref name="key"/>; null when <paramref name="timeout"/> passed while another holder kept it.</summary>
    public async ValueTask<IConsulLockHandle?> AcquireAsync(
        string key, SessionSettings settings, TimeSpan? timeout, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = LockTelemetry.Source.StartActivity("ConsulLock.Acquire");
        activity?.SetTag("consullock.key", key);
        var outcome = "error";
        IConsulLockHandle? handle = null;
        CancellationTokenSource? linked = null;
        try
        {
            var deadline = new Deadline(started, timeout);
            var token = cancellationToken;
            if (!_gates.IsFree(key))
            {
                // Waiting behind another caller of this process: provider disposal must end that wait too.
                linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
                token = linked.Token;
            }

            if (await EnterGateAsync(key, deadline, token, cancellationToken).ConfigureAwait(false))
            {
                var attempt = new Attempt(key, settings, deadline, marker, cancellationToken);
                try
                {
                    handle = await AcquireUnderGateAsync(attempt).ConfigureAwait(false);
                }
                finally
                {
                    if (handle is null)
                    {
                        GiveUp(attempt);
                    }
                }
            }

            outcome = handle is null ? "timeout" : "acquired";
            if (handle is null)
            {
                LockTelemetry.Timeouts.Add(1);
            }

            return handle;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            linked?.Dispose();
            if (handle is null)
            {
                marker.Exit();
            }

            activity?.SetTag("consullock.outcome", outcome);
            LockTelemetry.AcquireDuration.Record(LockTelemetry.Seconds(started), new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    /// <summary>
    /// Releases a handle's key: deleted when untouched since the grant, else unlocked; skipped only when the session
    /// is known to be gone. A failure is retried in the background until it succeeds or the session is gone; until
    /// then the key's gate stays closed, so no caller of this process meets the key held by its own session.
    /// </summary>
    public async Task ReleaseAsync(LockHandle handle)
    {
        if (!_held.TryRemove(handle, out _) && _disposing.IsCancellationRequested)
        {
            // The provider's disposal released it already.
            return;
        }

        if (handle.QueueEntry is not null)
        {
            NoteQueuedRelease(handle.Key);
        }

        try
        {
            if (_gates.HasWaiters(handle.Key) && !handle.Session.IsGone
                && await ReleaseTakingPlaceAsync(handle).ConfigureAwait(false) is { } place)
            {
                Sessions.Return(handle.Session);
                _gates.Exit(handle.Key, place);
                return;
            }

            if (await TryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false))
            {
                Finish(handle.Key, handle.Session);
                return;
            }
        }
        catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex))
        {
            Log.ReleaseFailed(Logger, handle.Key, ex);
        }

        RunInBackground(() => RetryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, finish: true, handle.QueueEntry));
    }

    public async ValueTask DisposeAsync()
    {
        await _disposing.CancelAsync().ConfigureAwait(false);
        await Watches.DisposeAsync().ConfigureAwait(false);

        // Held locks learn first; then their keys are let go as a release would (deleted when untouched since the
        // grant, with their queue entries), so that disposal leaves nothing behind in Consul; then the sessions end,
        // which releases whatever could not be released in time.
        var held = _held.Keys.ToArray();
        var firing = held.Select(h => h.LoseAsync("the lock provider was disposed")).ToArray();
        await WithinAsync(Task.WhenAll(firing), _client.RequestTimeout).ConfigureAwait(false);
        var releasing = new List<Task>();
        foreach (var handle in held)
        {
            if (_held.TryRemove(handle, out _))
            {
                releasing.Add(ReleaseOnDisposalAsync(handle));
            }
        }

        await WithinAsync(Task.WhenAll(releasing), _client.RequestTimeout).ConfigureAwait(false);
        await WithinAsync(Task.WhenAll(_background.Keys.ToArray()), _client.RequestTimeout).ConfigureAwait(false);
        await Sessions.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ReleaseOnDisposalAsync(LockHandle handle)
    {
        try
        {
            await TryReleaseAsync(handle.Key, handle.Session, handle.FencingToken, handle.QueueEntry).ConfigureAwait(false);
        }
        catch (ConsulLockException ex)
        {
            Log.ReleaseFailed(Logger, handle.Key, ex);
        }
    }

    private async ValueTask<bool> EnterGateAsync(string key, Deadline deadline, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            return await _gates.EnterAsync(key, deadline.Remaining, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested && _disposing.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed while the acquire waited.");
        }
    }

    private async ValueTask<IConsulLockHandle?> AcquireUnderGateAsync(Attempt attempt)
    {
        var key = attempt.Key;
        var lockDelayBackoff = s_firstLockDelayBackoff;
        var retry = new Backoff(s_firstRetry, s_maxRetry);
        // A free key is usually absent (releases delete it): with a session at hand, try to create it held before
        // reading anything. Without one, read first, so that a busy key is waited on without creating a session.
        ulong? expectedIndex = Sessions.HasLive(attempt.Settings) ? 0 : null;
        string? orphan = null;
        // Released here from the queue a moment ago: the key is contended, so take a place in its queue before trying,
        // rather than slipping in ahead of the processes already waiting while the next of them takes the key.
        var joinFirst = expectedIndex == 0 && WasQueuedRecently(key);
        if (_gates.TakeBaton(key) is { } place)
        {
            // The caller before us in this process took our place in the queue as it released the key.
            attempt.Session = await Sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
            if (attempt.Session.Id == place.Session)
            {
                (attempt.QueueEntry, attempt.QueueSession, attempt.Joined) = (place.Entry, place.Session, place.Entries);
                attempt.WaitStarted = Stopwatch.GetTimestamp();
                joinFirst = true;
            }
            else
            {
                RunInBackground(() => LeaveQueueAsync(key, place.Entry, pending: null, place.ModifyIndex));
            }
        }

        while (true)
        {
            ThrowIfStopped(attempt.CancellationToken);
            try
            {
                if (joinFirst)
                {
                    joinFirst = false;
                    if (await WaitInQueueAsync(attempt, seen: null, readIndex: 0).ConfigureAwait(false) is not { } turn)
                    {
                        return null;
                    }

                    expectedIndex = turn.ExpectedIndex;
                    continue;
                }

                if (expectedIndex is null)
                {
                    var read = await _client.GetKeyAsync(key, recurse: false, 0, default, consistent: false, attempt.CancellationToken).ConfigureAwait(false);
                    var seen = read.Entries.FirstOrDefault(e => e.Key == key);
                    if (seen is not null && !IsLockKey(seen))
                    {
                        throw Conflict(key, seen);
                    }

                    orphan = null;
                    if (seen?.Session is { Length: > 0 } holder)
                    {
                        if (Sessions.IsOurs(holder))
                        {
                            // Inside the gate no handle of ours holds the key: this is an acquire of ours whose answer
                            // never came. Take it over in the same transaction instead of waiting on ourselves.
                            orphan = holder;
                        }
                        else
                        {
                            attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                            if (await WaitInQueueAsync(attempt, seen, read.Index).ConfigureAwait(false) is not { } turn)
                            {
                                return null;
                            }

                            // Lock at the index the wait ended on, without reading the key again (the transaction's
                            // check catches anyone faster); null: read it again.
                            expectedIndex = turn.ExpectedIndex;
                            continue;
                        }
                    }

                    expectedIndex = seen?.ModifyIndex ?? 0;
                }

                attempt.Session ??= await Sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
                var session = attempt.Session;
                var operations = new List<TxnOperation>(3)
                {
                    expectedIndex == 0 ? TxnOperation.CheckNotExists(key) : TxnOperation.CheckIndex(key, expectedIndex.Value),
                };
                if (orphan is not null)
                {
                    // Consul would grant the key again to a session that holds it without a new index; unlocking first
                    // keeps fencing tokens strictly increasing.
                    operations.Add(TxnOperation.Unlock(key, orphan, ConsulClient.LockFlagValue));
                }

                operations.Add(TxnOperation.Lock(key, session.Id, ConsulClient.LockFlagValue));
                // Sent without the caller's token: a cancelled caller returns at once, but the request runs to its
                // answer, so that giving up knows exactly what Consul granted and releases that.
                attempt.InDoubt = true;
                var expectedAbsent = expectedIndex == 0 && orphan is null;
                var sending = _client.TransactAsync(operations, key, $"acquire the lock '{key}'", CancellationToken.None);
                attempt.Pending = sending;
                var answer = await sending.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
                attempt.Pending = null;
                attempt.InDoubt = false;
                expectedIndex = null;
                retry.Reset();

                if (answer.Errors is not { Count: > 0 })
                {
                    var entry = answer.Results?.LastOrDefault(r => r.KV is not null)?.KV;
                    if (entry is null || entry.Key != key || entry.Session != session.Id)
                    {
                        // Consul stored another key than asked (it rewrote the name) or answered oddly: never a handle
                        // on it, and what it did lock is let go at once.
                        attempt.InDoubt = true;
                        if (entry is not null && entry.Key != key && entry.Session == session.Id)
                        {
                            RunInBackground(() => _client.TransactAsync(
                                [TxnOperation.Unlock(entry.Key, session.Id, ConsulClient.LockFlagValue)], entry.Key, $"release the key '{entry.Key}'", CancellationToken.None));
                        }

                        throw new ConsulLockException(
                            $"Consul's answer to acquire the lock '{key}' does not show that key held by our session" +
                            (entry is null ? "." : $" (it names '{entry.Key}')."),
                            key, statusCode: null, innerException: null);
                    }

                    if (session.IsLost)
                    {
                        // Granted on a session declared lost meanwhile (no renewal acknowledged for a TTL, though Consul
                        // still honoured it): a handle would be lost at birth. Give the key back, lock again afresh.
                        await RetryReleaseAsync(key, session, entry.ModifyIndex, finish: false).ConfigureAwait(false);
                        Sessions.Return(session);
                        attempt.Session = null;
                        expectedIndex = null;
                        continue;
                    }

                    var queueEntry = attempt.QueueSession == session.Id ? attempt.QueueEntry : null;
                    if (queueEntry is null && attempt.QueueEntry is { } stale)
                    {
                        // Written with a session that was replaced meanwhile: nobody waits there any more.
                        RunInBackground(() => LeaveQueueAsync(key, stale, pending: null));
                    }

                    var handle = new LockHandle(this, key, session, entry, attempt.Marker, queueEntry);
                    attempt.Session = null;
                    attempt.QueueEntry = null;
                    _held.TryAdd(handle, 0);
                    handle.StartMonitoring();
                    if (attempt.WaitStarted is { } since)
                    {
                        LockTelemetry.WaitDuration.Record(LockTelemetry.Seconds(since));
                    }

                    Log.Acquired(Logger, key, handle.SessionId, handle.FencingToken);
                    return handle;
                }

                var why = answer.Errors[0].What ?? "";
                if (why.Contains("permission denied", StringComparison.OrdinalIgnoreCase))
                {
                    // Consul reports an ACL denial inside a transaction as a rolled-back operation, not an HTTP 403.
                    throw new ConsulLockException(
                        $"Consul at {_client.Address} refused to acquire the lock '{key}': 403 Forbidden ({why}). The ACL token lacks a permission: locks need 'key' write on the lock keys and 'session' write.",
                        key, 403, innerException: null);
                }

                if (why.Contains("invalid session", StringComparison.OrdinalIgnoreCase))
                {
                    session.MarkGone("Consul no longer knows the session");
                    Sessions.Return(session);
                    attempt.Session = null;
                }
                else if (why.Contains("lock delay", StringComparison.OrdinalIgnoreCase))
                {
                    // Consul refuses the key for the lock-delay after its holder's session was invalidated, and
                    // offers no event for its end: back off, growing, within the caller's deadline.
                    attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                    var pause = attempt.Deadline.IsEndless || attempt.Deadline.Remaining > lockDelayBackoff ? lockDelayBackoff : attempt.Deadline.Remaining;
                    if (pause <= TimeSpan.Zero)
                    {
                        return null;
                    }

                    await PauseAsync(pause, attempt.CancellationToken).ConfigureAwait(false);
                    lockDelayBackoff = lockDelayBackoff * 2 < s_maxLockDelayBackoff ? lockDelayBackoff * 2 : s_maxLockDelayBackoff;
                }
                else if (!IsRace(why))
                {
                    throw new ConsulLockException($"Consul at {_client.Address} refused to acquire the lock '{key}': {why}.", key, 409, innerException: null);
                }
                else if (expectedAbsent && answer.Errors[0].OpIndex == 0 && attempt.QueueEntry is null)
                {
                    // The key exists: usually held, as a first try on a contended key finds it. Queue without reading it
                    // (a waiter behind others never needs it); the first in the queue reads it when its try fails.
                    attempt.WaitStarted ??= Stopwatch.GetTimestamp();
                    joinFirst = true;
                }

                // Otherwise the key changed since it was seen (a check failed) or was taken in between: read it again.
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && ex is not ConsulLockTimeoutException)
            {
                // No answer, or a transient one: try again within the caller's wait. A lock request in doubt may have
                // been granted; the next read finds it held by our session and takes it over.
                attempt.Pending = null;
                attempt.FailingSince ??= Stopwatch.GetTimestamp();
                var failingFor = Stopwatch.GetElapsedTime(attempt.FailingSince.Value);
                var left = attempt.Deadline.IsEndless ? _client.RequestTimeout - failingFor : attempt.Deadline.Remaining;
                if (left <= TimeSpan.Zero)
                {
                    throw attempt.Deadline.IsEndless
                        ? new ConsulLockException($"Could not acquire the lock '{key}': Consul kept failing for {failingFor.TotalSeconds:0.#} s. Last error: {ex.Message}", key, ex.StatusCode, ex)
                        : new ConsulLockTimeoutException(key, attempt.Deadline.Timeout, ex);
                }

                expectedIndex = attempt.InDoubt ? null : expectedIndex;
                await PauseAsync(retry.Next(left), attempt.CancellationToken).ConfigureAwait(false);
                continue;
            }

            attempt.FailingSince = null;
        }
    }

    /// <summary>
    /// Waits for this process's turn at a busy key (see <see cref="LockQueue"/>): takes a place in the key's queue
    /// (once per session), then watches the entry just before its own until that entry is gone, or, when first, the
    /// key itself. Null when the deadline passed first. <paramref name="seen"/> is the key as last read (null: not read
    /// yet), at Consul index <paramref name="readIndex"/>.
    /// </summary>
    private async Task<Turn?> WaitInQueueAsync(Attempt attempt, KvEntry? seen, ulong readIndex)
    {
        var key = attempt.Key;
        var session = attempt.Session ??= await Sessions.RentAsync(attempt.Settings, attempt.CancellationToken).ConfigureAwait(false);
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
                    RunInBackground(() => LeaveQueueAsync(key, stale, pending: null));
                }

                // Written before the request is sent: whatever happens to it, giving up removes the entry.
                attempt.QueueEntry = LockQueue.Entry(key, session.Id);
                attempt.QueueSession = session.Id;
                var joining = _client.TransactAsync(
                    [TxnOperation.Lock(attempt.QueueEntry, session.Id, LockQueue.EntryFlagValue), TxnOperation.GetTree(LockQueue.Folder(key))],
                    key, $"wait in the queue of the lock '{key}'", CancellationToken.None);
                attempt.PendingJoin = joining;
                var answer = await joining.WaitAsync(attempt.CancellationToken).ConfigureAwait(false);
                attempt.PendingJoin = null;
                if (answer.Errors is { Count: > 0 } errors)
                {
                    var why = errors[0].What ?? "";
                    if (why.Contains("invalid session", StringComparison.OrdinalIgnoreCase) || why.Contains("lock delay", StringComparison.OrdinalIgnoreCase))
                    {
                        // An entry is named after its session, so a lock-delay on it means that this very session was
                        // invalidated while it held the entry (Consul checks the delay before the session).
                        return SessionEnded(attempt, session);
                    }

                    throw new ConsulLockException($"Consul at {_client.Address} refused to queue for the lock '{key}': {why}.", key, 409, innerException: null);
                }

                entries = QueueIn(answer, key);
            }
            else if (attempt.QueueRead)
            {
                // Read a moment ago and found first: the key is what is waited on now.
                entries = [];
            }
            else
            {
                entries = [.. (await _client.GetKeyAsync(LockQueue.Folder(key), recurse: true, 0, default, consistent: false, attempt.CancellationToken).ConfigureAwait(false)).Entries];
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
            var (predecessor, dead) = LockQueue.Read(entries, attempt.QueueEntry!, session.Id, Sessions.IsOurs);
            if (dead.Count > 0)
            {
                RunInBackground(() => RemoveDeadEntriesAsync(key, dead));
            }

            if (predecessor is null)
            {
                if (seen is null)
                {
                    // First in the queue, the key not read yet: it is usually free (the holder before us left it).
                    attempt.QueueRead = true;
                    return new Turn(0);
                }

                // First: behind a holder with no queue entry (a fast path of ours, Consul's Go client) or a free key.
                if (string.IsNullOrEmpty(seen.Session))
                {
                    return new Turn(seen.ModifyIndex);
                }

                var change = new KeyChange(seen.ModifyIndex);
                var ended = await WatchUntilAsync(attempt, key, readIndex, seen, change, linger: true).ConfigureAwait(false);
                if (ended != WaitEnd.Quiet)
                {
                    return ended == WaitEnd.Changed ? new Turn(change.FreeAtIndex) : null;
                }
            }
            else
            {
                var gone = new EntryGone(predecessor);
                switch (await WatchUntilAsync(attempt, predecessor.Key, predecessor.ModifyIndex, predecessor, gone, linger: false).ConfigureAwait(false))
                {
                    case WaitEnd.Changed when gone.Left is null:
                        // It released (its release deletes the key with its entry) or gave up: try at once.
                        return new Turn(0);
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
            // error, for up to its whole wait. Look at the key; take it when free.
            var read = await _client.GetKeyAsync(key, recurse: false, 0, default, consistent: false, attempt.CancellationToken).ConfigureAwait(false);
            var now = read.Entries.FirstOrDefault(e => e.Key == key);
            if (now is null || (string.IsNullOrEmpty(now.Session) && IsLockKey(now)))
            {
                return new Turn(now?.ModifyIndex ?? 0);
            }

            if (Sessions.IsOurs(now.Session!))
            {
                // Held by a session of ours while no handle of ours holds it (we are inside the key's gate): a grant
                // whose answer was lost. Waiting would wait on ourselves until that session ends; the read that
                // follows takes it over.
                return new Turn(null);
            }

            (seen, readIndex) = (now, read.Index);
        }
    }

    /// <summary>The attempt's session ended while it waited: it continues with a new one, and a new place in the queue.</summary>
    private Turn SessionEnded(Attempt attempt, LockSession session)
    {
        session.MarkGone("Consul no longer knows the session");
        Sessions.Return(session);
        attempt.Session = null;
        return new Turn(null);
    }

    /// <summary>The queue entries a transaction's <c>get-tree</c> of <paramref name="key"/>'s queue returned.</summary>
    private static List<KvEntry> QueueIn(TxnResponse answer, string key)
    {
        var folder = LockQueue.Folder(key);
        var entries = new Dictionary<string, KvEntry>(StringComparer.Ordinal);
        foreach (var entry in answer.Results?.Select(r => r.KV) ?? [])
        {
            if (entry is not null && entry.Key.StartsWith(folder, StringComparison.Ordinal))
            {
                entries[entry.Key] = entry;
            }
        }

        return [.. entries.Values];
    }

    /// <summary>
    /// Waits until <paramref name="waiter"/> sees the change it waits for on <paramref name="key"/>, at most one session
    /// TTL (then <see cref="WaitEnd.Quiet"/>: the caller looks for itself) and never past the deadline.
    /// </summary>
    private async Task<WaitEnd> WatchUntilAsync(Attempt attempt, string key, ulong minIndex, KvEntry seen, KeyWaiter waiter, bool linger)
    {
        var remaining = attempt.Deadline.Remaining;
        if (!attempt.Deadline.IsEndless && remaining <= TimeSpan.Zero)
        {
            await ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
            return WaitEnd.TimedOut;
        }

        var stall = attempt.Settings.Ttl;
        var limit = attempt.Deadline.IsEndless || remaining > stall ? stall : remaining;
        using (Watches.Subscribe(key, minIndex, seen, waiter, linger))
        {
            try
            {
                await waiter.Task.WaitAsync(limit, attempt.CancellationToken).ConfigureAwait(false);
                return WaitEnd.Changed;
            }
            catch (TimeoutException)
            {
                if (attempt.Deadline.IsEndless || attempt.Deadline.Remaining > TimeSpan.Zero)
                {
                    return WaitEnd.Quiet;
                }

                await ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
                return WaitEnd.TimedOut;
            }
        }
    }

    /// <summary>Removes queue entries nobody owns any more, each only as it was seen (best effort).</summary>
    private async Task RemoveDeadEntriesAsync(string key, List<KvEntry> dead)
    {
        try
        {
            foreach (var batch in dead.Chunk(64))
            {
                await _client.TransactAsync([.. batch.Select(e => TxnOperation.DeleteCas(e.Key, e.ModifyIndex))], key, $"tidy the queue of the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ConsulLockException ex)
        {
            Log.LeaveQueueFailed(Logger, key, ex);
        }
    }

    /// <summary>
    /// Removes this process's entry from a key's queue, once the request that wrote it has ended, so that the waiter
    /// behind it moves up. Retried while Consul fails: an entry left behind holds the queue up until its session ends.
    /// </summary>
    private async Task LeaveQueueAsync(string key, string entry, Task<TxnResponse>? pending, ulong? index = null)
    {
        if (pending is not null)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (ConsulLockException)
            {
            }
        }

        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                var remove = index is { } at ? TxnOperation.DeleteCas(entry, at) : TxnOperation.Delete(entry);
                await _client.TransactAsync([remove], key, $"leave the queue of the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && Stopwatch.GetElapsedTime(started) < _client.RequestTimeout * 3)
            {
                Log.LeaveQueueFailed(Logger, key, ex);
            }
            catch (ConsulLockException ex)
            {
                Log.LeaveQueueFailed(Logger, key, ex);
                return;
            }

            try
            {
                await Task.Delay(backoff.Next(), _disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Disposal ends the session next, which releases the entry.
                return;
            }
        }
    }

    /// <summary>Whether this process released <paramref name="key"/> from its queue within the last second.</summary>
    private bool WasQueuedRecently(string key) =>
        _queuedReleases.TryRemove(key, out var at) && Stopwatch.GetElapsedTime(at) < s_contendedWindow;

    /// <summary>Remembers that a lock granted through the queue was released (see <see cref="WasQueuedRecently"/>).</summary>
    private void NoteQueuedRelease(string key)
    {
        if (_queuedReleases.Count >= 4096)
        {
            foreach (var old in _queuedReleases.Where(p => Stopwatch.GetElapsedTime(p.Value) >= s_contendedWindow).ToArray())
            {
                _queuedReleases.TryRemove(old);
            }
        }

        _queuedReleases[key] = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// At the end of a wait: when Consul has been failing (or silent) meanwhile, the wait's outcome is Consul's fault,
    /// not another holder's, and the caller is told so with Consul's last error.
    /// </summary>
    private async Task ThrowIfConsulFailedAsync(Attempt attempt)
    {
        var failure = _client.FailingSince(attempt.Started);
        if (failure is null && _client.SinceLastAnswer > s_probeTimeout)
        {
            try
            {
                using var probe = new CancellationTokenSource(s_probeTimeout);
                await _client.PingAsync(probe.Token).ConfigureAwait(false);
            }
            catch (ConsulLockException ex)
            {
                failure = ex;
            }
            catch (OperationCanceledException ex)
            {
                failure = new ConsulLockException($"Consul at {_client.Address} did not answer within {s_probeTimeout.TotalSeconds:0.#} s.", attempt.Key, null, ex);
            }
        }

        if (failure is not null)
        {
            throw new ConsulLockTimeoutException(attempt.Key, attempt.Deadline.Timeout, failure);
        }
    }

    /// <summary>An acquire ended without a handle: clean up a lock request in doubt before the gate opens again.</summary>
    private void GiveUp(Attempt attempt)
    {
        if (attempt.QueueEntry is { } entry)
        {
            // Leave the queue first (the gate stays closed meanwhile), so that the waiter behind moves up.
            var pending = attempt.PendingJoin;
            attempt.QueueEntry = null;
            RunInBackground(async () =>
            {
                await LeaveQueueAsync(attempt.Key, entry, pending).ConfigureAwait(false);
                GiveUp(attempt);
            });
            return;
        }

        if (attempt.Session is not { } session)
        {
            _gates.Exit(attempt.Key);
            return;
        }

        if (!attempt.InDoubt)
        {
            Finish(attempt.Key, session);
            return;
        }

        RunInBackground(() => CleanUpAsync(attempt.Key, session, attempt.Pending));
    }

    /// <summary>
    /// Lets go of what a lock request that its caller gave up on may have been granted. With the request still
    /// running, its answer says exactly what to release. With no answer (the connection failed, or a 5xx that may
    /// have come after the write), the request may still take effect later: the key is looked at now and twice more
    /// (after a second and after a request timeout), each time inside the key's gate, where no handle of this process
    /// holds it, so that a hold by this session is surely the orphan and never a later grant to a caller of ours
    /// that shares the session.
    /// </summary>
    private async Task CleanUpAsync(string key, LockSession session, Task<TxnResponse>? pending)
    {
        var gateHeld = true;
        try
        {
            if (pending is not null)
            {
                TxnResponse? answer = null;
                try
                {
                    answer = await pending.ConfigureAwait(false);
                }
                catch (ConsulLockException)
                {
                }

                if (answer is not null)
                {
                    if (answer.Errors is not { Count: > 0 } && answer.Results?.LastOrDefault(r => r.KV is not null)?.KV is { } granted && granted.Session == session.Id)
                    {
                        await RetryReleaseAsync(key, session, granted.ModifyIndex, finish: false).ConfigureAwait(false);
                    }

                    return;
                }
            }

            foreach (var pause in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(1), _client.RequestTimeout })
            {
                if (pause > TimeSpan.Zero)
                {
                    // Callers of ours may take the key in between; the next look waits for the gate again.
                    _gates.Exit(key);
                    gateHeld = false;
                    try
                    {
                        await Task.Delay(pause, _disposing.Token).ConfigureAwait(false);
                        gateHeld = await _gates.EnterAsync(key, Timeout.InfiniteTimeSpan, _disposing.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }

                await UnlockIfOrphanedAsync(key, session).ConfigureAwait(false);
            }
        }
        finally
        {
            Sessions.Return(session);
            if (gateHeld)
            {
                _gates.Exit(key);
            }
        }
    }

    private async Task UnlockIfOrphanedAsync(string key, LockSession session)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));
        while (!session.IsGone && !_disposing.IsCancellationRequested)
        {
            try
            {
                var read = await _client.GetKeyAsync(key, recurse: false, 0, default, consistent: false, CancellationToken.None).ConfigureAwait(false);
                if (read.Entries.FirstOrDefault(e => e.Key == key) is not { } entry || entry.Session != session.Id)
                {
                    return;
                }

                await _client.TransactAsync(
                    [TxnOperation.CheckIndex(key, entry.ModifyIndex), TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue)],
                    key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (ConsulLockException ex)
            {
                Log.ReleaseFailed(Logger, key, ex);
                if (!ConsulClient.IsTransient(ex))
                {
                    Sessions.Retire(session);
                    return;
                }
            }

            try
            {
                await Task.Delay(backoff.Next(), _disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Releases a key that another caller of this process waits for, and in the same transaction takes that caller a
    /// new place at the end of the key's queue (first come, first served: behind the processes already waiting, so
    /// that a process with many callers cannot keep the key from the others), so that it need not ask for one. Null
    /// when the key was touched since the grant: the plain release handles that.
    /// </summary>
    private async Task<QueuePlace?> ReleaseTakingPlaceAsync(LockHandle handle)
    {
        var key = handle.Key;
        var session = handle.Session;
        var entry = LockQueue.Entry(key, session.Id);
        var answer = await _client.TransactAsync(
            [TxnOperation.DeleteCas(key, handle.FencingToken), TxnOperation.Delete(entry), TxnOperation.Lock(entry, session.Id, LockQueue.EntryFlagValue), TxnOperation.GetTree(LockQueue.Folder(key))],
            key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
        if (answer.Errors is { Count: > 0 })
        {
            return null;
        }

        Log.Released(Logger, key);
        var entries = QueueIn(answer, key);
        var own = entries.Find(e => e.Key == entry);
        return new QueuePlace(entry, session.Id, own?.ModifyIndex ?? 0, entries);
    }

    /// <summary>
    /// One release attempt; true when done (released, nothing to release, or the session is gone). A lock granted
    /// through the queue leaves it in the same transaction: the waiter behind learns of the release from that.
    /// </summary>
    private async Task<bool> TryReleaseAsync(string key, LockSession session, ulong grantIndex, string? queueEntry)
    {
        if (session.IsGone)
        {
            // Consul released the key when it ended the session; remove it, so that it does not stay behind.
            await TidyAsync(key).ConfigureAwait(false);
            await LeaveQueueIfAnyAsync(key, queueEntry).ConfigureAwait(false);
            return true;
        }

        // Untouched since the grant: delete it, so that released keys do not pile up.
        var deleted = await _client.TransactAsync(WithQueueExit([TxnOperation.DeleteCas(key, grantIndex)], queueEntry), key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
        if (deleted.Errors is not { Count: > 0 })
        {
            Log.Released(Logger, key);
            return true;
        }

        var answer = await _client.TransactAsync(WithQueueExit([TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue)], queueEntry), key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
        var why = answer.Errors is { Count: > 0 } errors ? errors[0].What ?? "" : null;
        if (why is null)
        {
            Log.Released(Logger, key);
            return true;
        }

        if (IsRace(why))
        {
            // Not ours any more (released by someone else, taken over, deleted): nothing to release, but a key that
            // nobody holds is removed, so that it does not stay behind.
            await TidyAsync(key).ConfigureAwait(false);
            await LeaveQueueIfAnyAsync(key, queueEntry).ConfigureAwait(false);
            return true;
        }

        if (why.Contains("invalid session", StringComparison.OrdinalIgnoreCase))
        {
            session.MarkGone("Consul no longer knows the session");
            await LeaveQueueIfAnyAsync(key, queueEntry).ConfigureAwait(false);
            return true;
        }

        throw new ConsulLockException($"Consul at {_client.Address} refused to release the lock '{key}': {why}.", key, 409, innerException: null);
    }

    private static List<TxnOperation> WithQueueExit(List<TxnOperation> operations, string? queueEntry)
    {
        if (queueEntry is not null)
        {
            operations.Add(TxnOperation.Delete(queueEntry));
        }

        return operations;
    }

    private Task LeaveQueueIfAnyAsync(string key, string? queueEntry) =>
        queueEntry is null ? Task.CompletedTask : LeaveQueueAsync(key, queueEntry, pending: null);

    /// <summary>
    /// Deletes <paramref name="key"/> when it is a lock that nobody holds, at the index read (so a grant made meanwhile
    /// is never touched); best effort: a failure leaves the key for its next holder's release to remove.
    /// </summary>
    private async Task TidyAsync(string key)
    {
        if (_disposing.IsCancellationRequested)
        {
            // The provider is gone with its connections; its sessions' end released the keys.
            return;
        }

        try
        {
            var read = await _client.GetKeyAsync(key, recurse: false, 0, default, consistent: false, CancellationToken.None).ConfigureAwait(false);
            if (read.Entries.FirstOrDefault(e => e.Key == key) is { } entry && string.IsNullOrEmpty(entry.Session) && IsLockKey(entry) && string.IsNullOrEmpty(entry.Value))
            {
                await _client.TransactAsync([TxnOperation.DeleteCas(key, entry.ModifyIndex)], key, $"remove the free lock key '{key}'", CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ConsulLockException ex)
        {
            Log.ReleaseFailed(Logger, key, ex);
        }
    }

    private async Task RetryReleaseAsync(string key, LockSession session, ulong grantIndex, bool finish, string? queueEntry = null)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        try
        {
            while (!session.IsGone)
            {
                try
                {
                    if (await TryReleaseAsync(key, session, grantIndex, queueEntry).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex))
                {
                    Log.ReleaseFailed(Logger, key, ex);
                }
                catch (ConsulLockException ex)
                {
                    // Refused for good (an ACL change, say): the session must end to free the key; it takes no new locks.
                    Log.ReleaseFailed(Logger, key, ex);
                    Sessions.Retire(session);
                    return;
                }

                if (_disposing.IsCancellationRequested)
                {
                    // Disposal destroys the session, which releases the key.
                    return;
                }

                try
                {
                    await Task.Delay(backoff.Next(), _disposing.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            if (finish)
            {
                Finish(key, session);
            }
        }
    }

    private void Finish(string key, LockSession session)
    {
        Sessions.Return(session);
        _gates.Exit(key);
    }

    private void RunInBackground(Func<Task> work)
    {
        var task = Task.Run(work);
        _background.TryAdd(task, 0);
        _ = task.ContinueWith(
            static (done, state) =>
            {
                var engine = (LockEngine)state!;
                engine._background.TryRemove(done, out _);
                if (done.Exception is { } failure)
                {
                    // Observed here, so that nothing surfaces later as an unobserved task exception.
                    Log.BackgroundFailed(engine.Logger, failure.GetBaseException());
                }
            },
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A pause inside an acquire, ended by the caller's token or by the provider's disposal.</summary>
    private async Task PauseAsync(TimeSpan pause, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(pause, cancellationToken).WaitAsync(_disposing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed while the acquire waited.");
        }
    }

    private void ThrowIfStopped(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_disposing.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed while the acquire waited.");
        }
    }

    private static async Task WithinAsync(Task work, TimeSpan limit)
    {
        try
        {
            await work.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Errors that mean "the key is not as it was seen": the answer is to look at the key again.</summary>
    private static bool IsRace(string why) =>
        why.Contains("failed index check", StringComparison.OrdinalIgnoreCase)
        || why.Contains("failed to check index", StringComparison.OrdinalIgnoreCase) // the key was deleted after we read it
        || why.Contains("exist", StringComparison.OrdinalIgnoreCase)
        || why.Contains("already held", StringComparison.OrdinalIgnoreCase)
        || why.Contains("isn't held", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether a key is a lock, ours to take when free: it carries the Go client's lock flags, or it was locked before
    /// (LockIndex above 0) and now holds nothing, no session and no value, which is what an operator's plain
    /// <c>?release=</c> without <c>&amp;flags=</c> leaves of a lock. A key with data, or a semaphore, is never one.
    /// </summary>
    private static bool IsLockKey(KvEntry entry) =>
        entry.Flags == ConsulClient.LockFlagValue
        || (entry.Flags != ConsulClient.SemaphoreFlagValue && entry.LockIndex > 0 && string.IsNullOrEmpty(entry.Session) && string.IsNullOrEmpty(entry.Value));

    private static ConsulLockConflictException Conflict(string key, KvEntry entry) => new(
        entry.Flags == ConsulClient.SemaphoreFlagValue
            ? $"The key '{key}' is a Consul semaphore, not a lock; a lock cannot be taken on it."
            : $"The key '{key}' holds other data (flags {entry.Flags}), not a lock; it is left untouched. Use another key for the lock.",
        key);

    /// <summary>One acquire's state, so that giving up knows what to clean.</summary>
    private sealed class Attempt(string key, SessionSettings settings, Deadline deadline, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        public string Key { get; } = key;

        public SessionSettings Settings { get; } = settings;

        public Deadline Deadline { get; } = deadline;

        public FlowLocks.Marker Marker { get; } = marker;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public long Started { get; } = Stopwatch.GetTimestamp();

        /// <summary>The rented session, until a handle takes it over.</summary>
        public LockSession? Session { get; set; }

        /// <summary>A lock request was sent and no answer said whether it was granted.</summary>
        public bool InDoubt { get; set; }

        /// <summary>The lock request still running when the caller gave up; its answer says what to release.</summary>
        public Task<TxnResponse>? Pending { get; set; }

        /// <summary>This attempt's entry in the key's queue, once it asked for one; removed when it gives up.</summary>
        public string? QueueEntry { get; set; }

        /// <summary>The session <see cref="QueueEntry"/> was written with.</summary>
        public string? QueueSession { get; set; }

        /// <summary>The request writing <see cref="QueueEntry"/>, while it runs.</summary>
        public Task<TxnResponse>? PendingJoin { get; set; }

        /// <summary>The queue as read when <see cref="QueueEntry"/> was written for this attempt by the caller before it.</summary>
        public List<KvEntry>? Joined { get; set; }

        /// <summary>The queue was just read and showed this attempt first; the key is what is waited on next.</summary>
        public bool QueueRead { get; set; }

        public long? WaitStarted { get; set; }

        public long? FailingSince { get; set; }
    }

    /// <summary>Where a wait in the queue ended: the index to lock at (0: the key is absent), or null to read the key again.</summary>
    private readonly record struct Turn(ulong? ExpectedIndex);

    private enum WaitEnd
    {
        Changed,
        Quiet,
        TimedOut,
    }

    /// <summary>A waiter's view of one key: completes when <see cref="Ends"/> says the change it waits for came.</summary>
    private abstract class KeyWaiter : IKeyObserver
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _done.Task;

        public bool IsWaiter => true;

        public bool OnEntry(KvEntry? entry)
        {
            if (!Ends(entry))
            {
                return false;
            }

            _done.TrySetResult();
            return true;
        }

        public void OnError(Exception exception) => _done.TrySetException(exception);

        protected abstract bool Ends(KvEntry? entry);
    }

    /// <summary>
    /// Completes when a queue entry is deleted, no longer held by the session that wrote it, or written anew (its
    /// owner released and queued again under the same name: it is behind us now).
    /// </summary>
    private sealed class EntryGone(KvEntry entry) : KeyWaiter
    {
        /// <summary>The entry as its session's end left it (released, not deleted).</summary>
        public KvEntry? Left { get; private set; }

        protected override bool Ends(KvEntry? now)
        {
            if (now is not null && now.Session == entry.Session && now.CreateIndex == entry.CreateIndex)
            {
                return false;
            }

            Left = now is not null && string.IsNullOrEmpty(now.Session) ? now : null;
            return true;
        }
    }

    /// <summary>Completes when a waited-on key is free or has changed since it was seen busy.</summary>
    private sealed class KeyChange(ulong seenModifyIndex) : KeyWaiter
    {
        /// <summary>
        /// Set when the change showed the key free: its ModifyIndex for a <c>check-index</c>, or 0 (absent) for a
        /// <c>check-not-exists</c>. Null when it showed the key held or holding other data: then read it again.
        /// </summary>
        public ulong? FreeAtIndex { get; private set; }

        protected override bool Ends(KvEntry? entry)
        {
            if (entry is not null && !string.IsNullOrEmpty(entry.Session) && entry.ModifyIndex == seenModifyIndex)
            {
                return false;
            }

            FreeAtIndex = entry is null ? 0
                : string.IsNullOrEmpty(entry.Session) && IsLockKey(entry) ? entry.ModifyIndex
                : null;
            return true;
        }
    }

    /// <summary>A point on the monotonic clock by which a wait must end, or none.</summary>
    private readonly struct Deadline(long started, TimeSpan? timeout)
    {
        public bool IsEndless => timeout is null;

        public TimeSpan Timeout => timeout ?? System.Threading.Timeout.InfiniteTimeSpan;

        /// <summary>Time left; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> when endless, which waits accept as "forever".</summary>
        public TimeSpan Remaining => timeout is { } limit
            ? (limit - Stopwatch.GetElapsedTime(started) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero)
            : System.Threading.Timeout.InfiniteTimeSpan;
    }
}
