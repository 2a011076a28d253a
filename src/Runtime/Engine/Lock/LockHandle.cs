using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A held lock. Its <see cref="LossMonitor"/> watches the key (deleted, released or taken by someone else = lost) and
/// the session (gone or unrenewed for one TTL = lost); disposing it releases the key, whatever it saw before (kept
/// until the end of its minimum hold, when it has one: <see cref="HoldKeeper"/>). At its hold limit (<c>MaxHold</c>)
/// the lock reports its loss with that reason and releases itself, whatever the holder does.
/// </summary>
internal sealed class LockHandle : IConsulLockHandle, ILossReport
{
    private readonly LockReleaser _releaser;
    private readonly FlowLocks.Marker _marker;
    private readonly LossMonitor _monitor;
    private readonly long _grantedAt = Stopwatch.GetTimestamp();
    private readonly Timer? _holdLimit;
    // Only a lock with a hold limit can be released by two parties (the limit and its holder); the others spare this.
    private readonly TaskCompletionSource? _released;
    private int _disposed;
    private int _holdLimitReached;

    public LockHandle(
        LockReleaser releaser, LossMonitor monitor, LockSession session, KvEntry granted, FlowLocks.Marker marker, string? queueEntry, HoldLimits holds)
    {
        _releaser = releaser;
        _monitor = monitor;
        _marker = marker;
        Session = session;
        QueueEntry = queueEntry;
        FencingToken = granted.ModifyIndex;
        if (holds.MinHold > TimeSpan.Zero)
        {
            HoldUntil = _grantedAt + (long)(holds.MinHold.TotalSeconds * Stopwatch.Frequency);
        }

        if (holds.MaxHold is { } limit)
        {
            _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _holdLimit = new Timer(static state => ((LockHandle)state!).ReachHoldLimit(), this, limit, Timeout.InfiniteTimeSpan);
            MaxHold = limit;
        }
    }

    public string Key => _monitor.Key;

    public CancellationToken LostToken => _monitor.LostToken;

    public ulong FencingToken { get; }

    public string SessionId => Session.Id;

    /// <summary>This process's entry in the key's queue when the lock came through it; the release removes it.</summary>
    public string? QueueEntry { get; }

    /// <summary>The holder document written with the grant; a hand-over to a hold session writes it again.</summary>
    public string? Document { get; init; }

    internal LockSession Session { get; }

    /// <summary>The end of the minimum hold (a <see cref="Stopwatch"/> timestamp), when the lock has one.</summary>
    public long? HoldUntil { get; }

    /// <summary>The hold limit, when the lock has one.</summary>
    public TimeSpan? MaxHold { get; }

    /// <summary>Whether the lock ended at its hold limit (<c>MaxHold</c>).</summary>
    public bool HoldLimitReached => Volatile.Read(ref _holdLimitReached) != 0;

    /// <summary>Why the lock was lost, once it was.</summary>
    public string? LostReason => _monitor.LostReason;

    /// <summary>Reports the loss (once) and returns when the lost-token's callbacks have run.</summary>
    public Task LoseAsync(string reason) => _monitor.ReportAsync(reason);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            // The hold limit may have begun the release: the holder's own disposal returns when it is done, so that a
            // [ConsulLocked] method that returns has let go of its key, whoever began.
            if (_released is not null)
            {
                await _released.Task.ConfigureAwait(false);
            }

            return;
        }

        try
        {
            if (_holdLimit is not null)
            {
                await _holdLimit.DisposeAsync().ConfigureAwait(false);
            }

            await _monitor.DisposeAsync().ConfigureAwait(false);
            _marker.Exit();
            LockTelemetry.HoldDuration.Record(LockTelemetry.Seconds(_grantedAt));
            await _releaser.ReleaseAsync(this).ConfigureAwait(false);
        }
        finally
        {
            _released?.TrySetResult();
        }
    }

    private void ReachHoldLimit()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        // A timer may fire a millisecond early; the limit is grant + MaxHold, never before.
        var early = MaxHold!.Value - Stopwatch.GetElapsedTime(_grantedAt);
        if (early > TimeSpan.Zero)
        {
            try
            {
                _holdLimit!.Change(early + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Released meanwhile: nothing to limit.
            }

            return;
        }

        _ = ReachHoldLimitAsync();
    }

    private async Task ReachHoldLimitAsync()
    {
        try
        {
            if (_monitor.LostReason is null)
            {
                Volatile.Write(ref _holdLimitReached, 1);
            }

            await _monitor.ReportAsync($"the hold limit was reached (MaxHold {ConsulDuration.Format(MaxHold!.Value)} after the grant)").ConfigureAwait(false);
            await DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Not expected (the report and the release log their own failures); logged, never unobserved.
            Log.BackgroundFailed(_releaser.Logger, ex);
        }
    }
}
