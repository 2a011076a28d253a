using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A held lock. Its <see cref="LossMonitor"/> watches the key (deleted, released or taken by someone else = lost) and
/// the session (gone or unrenewed for one TTL = lost); disposing it releases the key, whatever it saw before.
/// </summary>
internal sealed class LockHandle : IConsulLockHandle
{
    private readonly LockReleaser _releaser;
    private readonly FlowLocks.Marker _marker;
    private readonly LossMonitor _monitor;
    private readonly long _grantedAt = Stopwatch.GetTimestamp();
    private int _disposed;

    public LockHandle(LockReleaser releaser, LossMonitor monitor, LockSession session, KvEntry granted, FlowLocks.Marker marker, string? queueEntry)
    {
        _releaser = releaser;
        _monitor = monitor;
        _marker = marker;
        Session = session;
        QueueEntry = queueEntry;
        FencingToken = granted.ModifyIndex;
    }

    public string Key => _monitor.Key;

    public CancellationToken LostToken => _monitor.LostToken;

    public ulong FencingToken { get; }

    public string SessionId => Session.Id;

    /// <summary>This process's entry in the key's queue when the lock came through it; the release removes it.</summary>
    public string? QueueEntry { get; }

    internal LockSession Session { get; }

    /// <summary>Why the lock was lost, once it was.</summary>
    public string? LostReason => _monitor.LostReason;

    /// <summary>Reports the loss (once) and returns when the lost-token's callbacks have run.</summary>
    public Task LoseAsync(string reason) => _monitor.ReportAsync(reason);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _monitor.DisposeAsync().ConfigureAwait(false);
        _marker.Exit();
        LockTelemetry.HoldDuration.Record(LockTelemetry.Seconds(_grantedAt));
        await _releaser.ReleaseAsync(this).ConfigureAwait(false);
    }
}
