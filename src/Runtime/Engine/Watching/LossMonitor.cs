using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Watches something held in Consul (a lock, and the recipes built on it) and reports its loss once, on evidence only:
/// its session lost (Consul no longer knows it, or no renewal acknowledged for one TTL), or its key as Consul shows it
/// no longer ours by the holder's own rule. A watch that fails is not evidence (contract, section 6). The lost-token's
/// callbacks run on a pool thread of their own, so a user's callback that throws or blocks cannot stall the watch or the
/// renewal that reported the loss, nor the reports of other keys.
/// </summary>
internal sealed class LossMonitor : IKeyObserver, IAsyncDisposable
{
    // A loss must not wait long for its reason: past this, the key's change is reported as seen.
    private static readonly TimeSpan s_confirmTimeout = TimeSpan.FromSeconds(1);

    private readonly KeyWatches _watches;
    private readonly LockSession _session;
    private readonly KvEntry _granted;
    private readonly Func<KvEntry?, string?> _lossReason;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly TaskCompletionSource _reported = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _sync = new();
    private CancellationTokenRegistration _sessionLost;
    private IDisposable? _watch;
    private Timer? _watchTimer;
    private int _stopped;
    private string? _reason;

    /// <param name="watches">Where the key is watched.</param>
    /// <param name="key">The held key.</param>
    /// <param name="granted">The key's entry as the grant left it: the watch starts at its index, so nothing after it is missed.</param>
    /// <param name="session">The session that holds the key.</param>
    /// <param name="lossReason">The holder's rule: null while the entry (null: the key is absent) is still ours, else why it is not.</param>
    /// <param name="logger">Where a loss and a failing callback are logged.</param>
    public LossMonitor(KeyWatches watches, string key, KvEntry granted, LockSession session, Func<KvEntry?, string?> lossReason, ILogger logger)
    {
        _watches = watches;
        Key = key;
        _granted = granted;
        _session = session;
        _lossReason = lossReason;
        _logger = logger;
        LostToken = _lost.Token;
    }

    public string Key { get; }

    public CancellationToken LostToken { get; }

    /// <summary>Why it was lost, once it was.</summary>
    public string? LostReason => Volatile.Read(ref _reason);

    WatchPriority IKeyObserver.Priority => WatchPriority.Held;

    /// <summary>
    /// Starts watching. The session is watched from the start. The key's watch joins a running one at once (it costs
    /// Consul nothing more); otherwise it starts after <paramref name="keyWatchDelay"/>, so a short hold (the common
    /// acquire-work-release) is released before it and saves Consul a read. Nothing is missed meanwhile: the watch starts
    /// at the grant's index, so a change made in between is reported by its first answer.
    /// </summary>
    public void Start(TimeSpan keyWatchDelay)
    {
        _sessionLost = _session.LostToken.UnsafeRegister(static state =>
        {
            var monitor = (LossMonitor)state!;
            monitor.Report(monitor._session.LostReason);
        }, this);
        if (_watches.IsWatching(Key))
        {
            WatchKey();
        }
        else
        {
            _watchTimer = new Timer(static state => ((LossMonitor)state!).WatchKey(), this, keyWatchDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Reports the loss (once) and returns when the lost-token's callbacks have run.</summary>
    public Task ReportAsync(string reason)
    {
        Report(reason);
        return _reported.Task;
    }

    /// <summary>Stops watching (the holder let go); a loss seen after this is not reported.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        IDisposable? watch;
        lock (_sync)
        {
            (watch, _watch) = (_watch, null);
        }

        watch?.Dispose();
        if (_watchTimer is { } timer)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        await _sessionLost.DisposeAsync().ConfigureAwait(false);
    }

    bool IKeyObserver.OnEntry(KvEntry? entry)
    {
        if (_lossReason(entry) is not { } reason)
        {
            return false;
        }

        if (entry is null || string.IsNullOrEmpty(entry.Session))
        {
            // Deleted or released: the end of the session does either (by its behaviour), and the key's watch sees it
            // long before a renewal would. Ask Consul about the session first, briefly, so that the reason is what
            // happened: a session gone is reported by the session (to every holder on it), else the key's change.
            _ = ConfirmAndReportAsync(reason);
            return true;
        }

        Report(reason);
        return true;
    }

    private async Task ConfirmAndReportAsync(string keyReason)
    {
        if (await _session.ConfirmAliveAsync(s_confirmTimeout).ConfigureAwait(false) == false)
        {
            // Marked gone: the session's lost-token reports it (see Start).
            return;
        }

        Report(keyReason);
    }

    // A watch that cannot read the key is not evidence of a loss: the session's renewals decide. Keep watching.
    bool IKeyObserver.OnFailure(Exception exception) => false;

    private void WatchKey()
    {
        if (Volatile.Read(ref _stopped) != 0)
        {
            return;
        }

        IDisposable watch;
        try
        {
            watch = _watches.Subscribe(Key, _granted.ModifyIndex, _granted, this);
        }
        catch (ObjectDisposedException)
        {
            // The provider is being disposed: it reports the loss itself.
            return;
        }

        lock (_sync)
        {
            if (Volatile.Read(ref _stopped) == 0)
            {
                _watch = watch;
                return;
            }
        }

        watch.Dispose();
    }

    private void Report(string reason)
    {
        if (Volatile.Read(ref _stopped) != 0 || Interlocked.CompareExchange(ref _reason, reason, null) is not null)
        {
            _reported.TrySetResult();
            return;
        }

        LockTelemetry.Lost.Add(1);
        Log.Lost(_logger, Key, reason);
        ThreadPool.UnsafeQueueUserWorkItem(static monitor => monitor.FireLostToken(), this, preferLocal: false);
    }

    private void FireLostToken()
    {
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException ex)
        {
            Log.LostCallbackFailed(_logger, Key, ex);
        }
        finally
        {
            _reported.TrySetResult();
        }
    }
}
