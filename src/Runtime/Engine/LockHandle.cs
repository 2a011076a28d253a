using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A held lock. It watches its key (deleted, released or taken by someone else = lost) and its session (gone or
/// unrenewed for one TTL = lost), and releases the key when disposed.
/// </summary>
internal sealed class LockHandle : IConsulLockHandle, IKeyObserver
{
    private readonly LockEngine _engine;
    private readonly LockSession _session;
    private readonly FlowLocks.Marker _marker;
    private readonly CancellationTokenSource _lost = new();
    private readonly long _grantedAt = Stopwatch.GetTimestamp();
    private CancellationTokenRegistration _sessionLost;
    private readonly object _watchGate = new();
    private IDisposable? _watch;
    private Timer? _watchTimer;
    private int _disposed;
    private string? _lostReason;

    public LockHandle(LockEngine engine, string key, LockSession session, ulong fencingToken, FlowLocks.Marker marker)
    {
        _engine = engine;
        _session = session;
        _marker = marker;
        Key = key;
        FencingToken = fencingToken;
        LostToken = _lost.Token;
    }

    public string Key { get; }

    public CancellationToken LostToken { get; }

    public ulong FencingToken { get; }

    public string SessionId => _session.Id;

    /// <summary>Why the lock was lost, once it was.</summary>
    public string? LostReason => _lostReason;

    /// <summary>Starts watching; called once the handle is fully built so that a loss can be reported at once.</summary>
    /// <remarks>
    /// The session is watched from the start. The key joins its folder's watch at once when that watch already runs
    /// (for waiters or other held keys of the folder): that costs Consul nothing more. Otherwise the key's watch starts
    /// <see cref="LockEngine.HeldKeyWatchDelay"/> (5 ms) after the grant, so a short hold, the common
    /// acquire-work-release, is released before it and saves Consul the extra read with which a watch would answer
    /// the holder's own release. Nothing is missed meanwhile: the watch starts at the grant's index, so a change made
    /// in between is reported by its first answer, at most that delay late.
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

    void IKeyObserver.OnError(ConsulLockException exception) => Lose("Consul stopped answering the watch on the key: " + exception.Message);

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
        try
        {
            if (!_lost.IsCancellationRequested && !_session.IsLost)
            {
                await _engine.ReleaseAsync(Key, _session).ConfigureAwait(false);
            }
        }
        finally
        {
            LockTelemetry.HoldDuration.Record(LockTelemetry.Seconds(_grantedAt));
            _engine.AfterRelease(Key, _session);
        }
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
            watch = _engine.Watches.Subscribe(Key, FencingToken, this);
        }
        catch (ObjectDisposedException)
        {
            // The provider is being disposed: it ends the session, and the session's lost-token reports that.
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
            return;
        }

        LockTelemetry.Lost.Add(1);
        Log.Lost(_engine.Logger, Key, reason);
        _lost.Cancel();
    }
}
