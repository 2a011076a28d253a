using System.Collections.Concurrent;
using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Acquires and releases locks in the Go client's format, with as few round trips as the guarantees allow:
/// <list type="bullet">
/// <item>The key is read before it is locked the first time, so data that is not a lock is never overwritten.</item>
/// <item>Locking is one transaction: a check that the key is as last seen (<c>check-index</c>, or
/// <c>check-not-exists</c>) plus <c>lock</c>, whose result carries the new ModifyIndex: the fencing token.</item>
/// <item>A release is a transaction too and tells the key's new ModifyIndex, so a caller that locks the key again
/// skips the read: an uncontended acquire + release costs two round trips, like the raw KV floor.</item>
/// <item>A busy key is waited on with a blocking query (shared per folder), never a retry sleep; only Consul's
/// lock-delay, which has no event, is waited out with a growing back-off.</item>
/// </list>
/// </summary>
internal sealed class LockEngine : IAsyncDisposable
{
    private const int MaxKnownIndexes = 10_000;
    private static readonly TimeSpan s_firstLockDelayBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxLockDelayBackoff = TimeSpan.FromSeconds(1);

    private readonly ConsulClient _client;
    private readonly KeyGates _gates = new();
    private readonly ConcurrentDictionary<string, ulong> _knownIndexes = new(StringComparer.Ordinal);

    public LockEngine(ConsulLockOptions options, ConsulClient client, ILogger logger)
    {
        _client = client;
        Logger = logger;
        Sessions = new SessionPool(options, client, logger);
        Watches = new KeyWatches(client, logger, options.WatchWait);
        HeldKeyWatchDelay = options.HeldKeyWatchDelay;
    }

    /// <summary>How long after a grant a held key's watch starts when its folder is not watched yet.</summary>
    public TimeSpan HeldKeyWatchDelay { get; }

    public ILogger Logger { get; }

    public SessionPool Sessions { get; }

    public KeyWatches Watches { get; }

    /// <summary>Acquires <paramref name="key"/>; null when <paramref name="timeout"/> passed first.</summary>
    public async ValueTask<IConsulLockHandle?> AcquireAsync(
        string key, SessionSettings settings, TimeSpan? timeout, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = LockTelemetry.Source.StartActivity("ConsulLock.Acquire");
        activity?.SetTag("consullock.key", key);
        var outcome = "error";
        IConsulLockHandle? handle = null;
        try
        {
            var deadline = new Deadline(started, timeout);
            if (await _gates.EnterAsync(key, deadline.Remaining, cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    handle = await AcquireUnderGateAsync(key, settings, deadline, marker, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    if (handle is null)
                    {
                        _gates.Exit(key);
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
            if (handle is null)
            {
                marker.Exit();
            }

            activity?.SetTag("consullock.outcome", outcome);
            LockTelemetry.AcquireDuration.Record(LockTelemetry.Seconds(started), new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    public async Task ReleaseAsync(string key, LockSession session)
    {
        try
        {
            // No caller token: a release runs to its end. The client's own request timeout still bounds it.
            var answer = await _client.TransactAsync(
                [TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue)], key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
            if (answer.Errors is not { Count: > 0 } && answer.Results?.LastOrDefault(r => r.KV is not null)?.KV is { } entry)
            {
                RememberIndex(key, entry.ModifyIndex);
            }
            else
            {
                // Not ours any more (taken over between the last watch answer and now): nothing to release.
                _knownIndexes.TryRemove(key, out _);
            }

            Log.Released(Logger, key);
        }
        catch (Exception ex) when (ex is ConsulLockException or OperationCanceledException)
        {
            _knownIndexes.TryRemove(key, out _);
            Log.ReleaseFailed(Logger, key, ex);
            // The session may still hold the key; destroying it (when unused) releases the key for sure.
            Sessions.Poison(session);
        }
    }

    public void AfterRelease(string key, LockSession session)
    {
        Sessions.Return(session);
        _gates.Exit(key);
    }

    public async ValueTask DisposeAsync()
    {
        await Watches.DisposeAsync().ConfigureAwait(false);
        await Sessions.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask<IConsulLockHandle?> AcquireUnderGateAsync(
        string key, SessionSettings settings, Deadline deadline, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        LockSession? session = null;
        long? waitStarted = null;
        var lockDelayBackoff = s_firstLockDelayBackoff;
        ulong? expectedIndex = _knownIndexes.TryGetValue(key, out var known) ? known : null;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                KvEntry? seen = null;
                if (expectedIndex is null)
                {
                    var read = await _client.GetKeyAsync(key, recurse: false, 0, default, consistent: false, cancellationToken).ConfigureAwait(false);
                    seen = read.Entries.FirstOrDefault(e => e.Key == key);
                    if (seen is not null && seen.Flags != ConsulClient.LockFlagValue)
                    {
                        throw Conflict(key, seen);
                    }

                    if (seen?.Session is { Length: > 0 } holder && holder != session?.Id)
                    {
                        waitStarted ??= Stopwatch.GetTimestamp();
                        if (await WaitForChangeAsync(key, read.Index, seen.ModifyIndex, deadline, cancellationToken).ConfigureAwait(false) is not { } change)
                        {
                            return null;
                        }

                        // The watch's answer shows the key free: lock it at the index it showed, without reading it
                        // again (the transaction's index check catches anyone faster). Otherwise read it again.
                        expectedIndex = change.FreeAtIndex;
                        continue;
                    }

                    expectedIndex = seen?.ModifyIndex ?? 0;
                }

                session ??= await Sessions.RentAsync(settings, cancellationToken).ConfigureAwait(false);
                var operations = new List<TxnOperation>(3)
                {
                    expectedIndex == 0 ? TxnOperation.CheckNotExists(key) : TxnOperation.CheckIndex(key, expectedIndex.Value),
                };
                if (seen?.Session == session.Id)
                {
                    // A release of ours that failed left the key held by this session; Consul would grant it again
                    // without a new index, so unlock first to keep fencing tokens strictly increasing.
                    operations.Add(TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue));
                }

                operations.Add(TxnOperation.Lock(key, session.Id, ConsulClient.LockFlagValue));
                var answer = await _client.TransactAsync(operations, key, $"acquire the lock '{key}'", cancellationToken).ConfigureAwait(false);
                expectedIndex = null;
                _knownIndexes.TryRemove(key, out _);

                if (answer.Errors is not { Count: > 0 })
                {
                    var entry = answer.Results?.LastOrDefault(r => r.KV is not null)?.KV
                        ?? throw new ConsulLockException($"Consul's answer to acquire the lock '{key}' holds no key.", key, statusCode: null, innerException: null);
                    var handle = new LockHandle(this, key, session, entry.ModifyIndex, marker);
                    session = null;
                    handle.StartMonitoring();
                    if (waitStarted is { } since)
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
                    session.MarkLost("Consul no longer knows the session");
                    Sessions.Return(session);
                    session = null;
                }
                else if (why.Contains("lock delay", StringComparison.OrdinalIgnoreCase))
                {
                    // Consul refuses the key for the lock-delay after its holder's session was invalidated, and
                    // offers no event for its end: back off, growing, within the caller's deadline.
                    waitStarted ??= Stopwatch.GetTimestamp();
                    var pause = deadline.IsEndless || deadline.Remaining > lockDelayBackoff ? lockDelayBackoff : deadline.Remaining;
                    if (pause <= TimeSpan.Zero)
                    {
                        return null;
                    }

                    await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                    lockDelayBackoff = lockDelayBackoff * 2 < s_maxLockDelayBackoff ? lockDelayBackoff * 2 : s_maxLockDelayBackoff;
                }

                else if (!IsRace(why))
                {
                    throw new ConsulLockException($"Consul at {_client.Address} refused to acquire the lock '{key}': {why}.", key, 409, innerException: null);
                }

                // Otherwise the key changed since it was read (a check failed) or was taken in between: read again.
            }
        }
        finally
        {
            if (session is not null)
            {
                Sessions.Return(session);
            }
        }
    }

    /// <summary>The change that ended the wait; null when the deadline passed first.</summary>
    private async Task<KeyChange?> WaitForChangeAsync(string key, ulong readIndex, ulong seenModifyIndex, Deadline deadline, CancellationToken cancellationToken)
    {
        var remaining = deadline.Remaining;
        if (!deadline.IsEndless && remaining <= TimeSpan.Zero)
        {
            return null;
        }

        var change = new KeyChange(seenModifyIndex);
        using (Watches.Subscribe(key, readIndex, change))
        {
            try
            {
                await change.Task.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
                return change;
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    /// <summary>Errors that mean "someone else got there first": the answer is to look at the key again.</summary>
    private static bool IsRace(string why) =>
        why.Contains("failed index check", StringComparison.OrdinalIgnoreCase)
        || why.Contains("failed to check index", StringComparison.OrdinalIgnoreCase) // the key was deleted after we read it
        || why.Contains("exist", StringComparison.OrdinalIgnoreCase)
        || why.Contains("already held", StringComparison.OrdinalIgnoreCase);

    private void RememberIndex(string key, ulong index)
    {
        if (_knownIndexes.Count >= MaxKnownIndexes)
        {
            _knownIndexes.Clear();
        }

        _knownIndexes[key] = index;
    }

    private static ConsulLockConflictException Conflict(string key, KvEntry entry) => new(
        entry.Flags == ConsulClient.SemaphoreFlagValue
            ? $"The key '{key}' is a Consul semaphore, not a lock; a lock cannot be taken on it."
            : $"The key '{key}' holds other data (flags {entry.Flags}), not a lock; it is left untouched. Use another key for the lock.",
        key);

    /// <summary>Completes when a waited-on key is free or has changed since it was seen busy.</summary>
    private sealed class KeyChange(ulong seenModifyIndex) : IKeyObserver
    {
        private readonly TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _changed.Task;

        /// <summary>
        /// Set when the change showed the key free: its ModifyIndex for a <c>check-index</c>, or 0 (absent) for a
        /// <c>check-not-exists</c>. Null when it showed the key held or holding other data: then read it again.
        /// </summary>
        public ulong? FreeAtIndex { get; private set; }

        public bool OnEntry(KvEntry? entry)
        {
            if (entry is null || string.IsNullOrEmpty(entry.Session) || entry.ModifyIndex != seenModifyIndex)
            {
                FreeAtIndex = entry is null ? 0
                    : string.IsNullOrEmpty(entry.Session) && entry.Flags == ConsulClient.LockFlagValue ? entry.ModifyIndex
                    : null;
                _changed.TrySetResult();
                return true;
            }

            return false;
        }

        public void OnError(ConsulLockException exception) => _changed.TrySetException(exception);
    }

    /// <summary>A point on the monotonic clock by which a wait must end, or none.</summary>
    private readonly struct Deadline(long started, TimeSpan? timeout)
    {
        public bool IsEndless => timeout is null;

        /// <summary>Time left; <see cref="Timeout.InfiniteTimeSpan"/> when endless, which waits accept as "forever".</summary>
        public TimeSpan Remaining => timeout is { } limit
            ? (limit - Stopwatch.GetElapsedTime(started) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero)
            : Timeout.InfiniteTimeSpan;
    }
}
