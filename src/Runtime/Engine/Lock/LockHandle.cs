using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A held lock. It watches its key (deleted, released or taken by someone else = lost) and its session (gone or
/// unrenewed for one TTL = lost), and releases the key when disposed, whatever it saw before.
/// </summary>
internal sealed class LockHandle : IConsulLockHandle, IKeyObserver
{
    private readonly LockEngine _engine;
    private readonly LockSession _session;
    private readonly FlowLocks.Marker _marker;
    private readonly CancellationTokenSource _lost = new();
    private readonly long _grantedAt = Stopwatch.GetTimestamp();
    private readonly TaskCompletionSource _lostFired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _watchGate = new();
    private CancellationTokenRegistration _sessionLost;
    private IDisposable? _watch;
    private Timer? _watchTimer;
    private int _disposed;
    private string? _lostReason;

    public LockHandle(LockEngine engine, string key, LockSession session, KvEntry granted, FlowLocks.Marker marker, string? queueEntry)
    {
        QueueEntry = queueEntry;
        _engine = engine;
        _session = session;
        _marker = marker;
        Key = key;
        Granted = granted;
        FencingToken = granted.ModifyIndex;
        LostToken = _lost.Token;
    }

    public string Key { get; }

    public CancellationToken LostToken { get; }

    public ulong FencingToken { get; }

    public string SessionId => _session.Id;

    /// <summary>This process's entry in the key's queue when the lock came through it; the release removes it.</summary>
    public string? QueueEntry { get; }

    /// <summary>The key's entry as the grant left it.</summary>
    public KvEntry Granted { get; }

    internal LockSession Session => _session;

    /// <summary>Why the lock was lost, once it was.</summary>
    public string? LostReason => _lostReason;

    bool IKeyObserver.IsWaiter => false;

    /// <summary>Starts watching; called once the handle is fully built so that a loss can be reported at once.</summary>
    /// <remarks>
    /// The session is watched from the start. The key's watch joins a running one at once (it costs Consul nothing
    /// more); otherwise it starts <see cref="LockEngine.HeldKeyWatchDelay"/> (5 ms) after the grant, so a short hold,
    /// the common acquire-work-release, is released before it and saves Consul a read. Nothing is missed meanwhile:
    /// the watch starts at the grant's index, so a change made in between is reported by its first answer.
    /// </remarks>
    public void StartMonitoring()
    {
        _sessionLost = _session.LostToken.UnsafeRegister(static state =>
        {
            var handle = (LockHandle)state!;
            handle.Lose(handle._session.LostReason);
        }, this);
        if (_engine.Watches.IsWatching(Key))
        {
            WatchKey();
        }
        else
        {
            _watchTimer = new Timer(static state => ((LockHandle)state!).WatchKey(), this, _engine.HeldKeyWatchDelay, Timeout.InfiniteTimeSpan);
        }
    }

    bool IKeyObserver.OnEntry(KvEntry? entry)
    {
        if (entry is null)
        {
            Lose("the key was deleted");
            return true;
        }

        if (!string.Equals(entry.Session, SessionId, StringComparison.Ordinal))
        {
            Lose(string.IsNullOrEmpty(entry.Session) ? "the key was released by someone else" : "the key was taken by another session");
            return true;
        }

        return false;
    }

    // A watch that cannot read the key is not evidence of a loss: the session's renewals decide (contract, section 6).
    void IKeyObserver.OnError(Exception exception)
    {
    }

    /// <summary>Reports the loss (once) and returns when the lost-token's callbacks have run.</summary>
    public Task LoseAsync(string reason)
    {
        Lose(reason);
        return _lostFired.Task;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        IDisposable? watch;
        lock (_watchGate)
        {
            watch = _watch;
            _watch = null;
        }

        watch?.Dispose();
        if (_watchTimer is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        await _sessionLost.DisposeAsync().ConfigureAwait(false);
        _marker.Exit();
        LockTelemetry.HoldDuration.Record(LockTelemetry.Seconds(_grantedAt));
        await _engine.ReleaseAsync(this).ConfigureAwait(false);
    }

    private void WatchKey()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        IDisposable watch;
        try
        {
            watch = _engine.Watches.Subscribe(Key, FencingToken, Granted, this);
        }
        catch (ObjectDisposedException)
        {
            // The provider is being disposed: it fires the lost-token itself.
            return;
        }

        lock (_watchGate)
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                _watch = watch;
                return;
            }
        }

        watch.Dispose();
    }

    private void Lose(string reason)
    {
        if (Volatile.Read(ref _disposed) != 0 || Interlocked.CompareExchange(ref _lostReason, reason, null) is not null)
        {
            _lostFired.TrySetResult();
            return;
        }

        LockTelemetry.Lost.Add(1);
        Log.Lost(_engine.Logger, Key, reason);
        // The user's callbacks on the lost-token run on a pool thread of their own: one that throws or blocks cannot
        // stall the watch or the renewal that reported the loss, nor the reports of other keys.
        ThreadPool.UnsafeQueueUserWorkItem(static handle => handle.FireLostToken(), this, preferLocal: false);
    }

    private void FireLostToken()
    {
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException ex)
        {
            Log.LostCallbackFailed(_engine.Logger, Key, ex);
        }
        finally
        {
            _lostFired.TrySetResult();
        }
    }
}
