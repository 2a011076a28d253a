using System.Diagnostics;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A held permit. Two <see cref="LossMonitor"/>s watch it by the semaphore's rule: its contender key (deleted, or no
/// longer locked by its session = lost) and <c>.lock</c> (its session no longer among the holders = lost); both watch
/// the session (gone, or unrenewed for one TTL = lost). The first loss fires <see cref="LostToken"/>. Disposing the
/// handle leaves the semaphore (<see cref="PermitReleaser"/>), whatever it saw before.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification =
    "The lost-token must stay usable after release (a body may still read it); the link dies with the monitors' sources.")]
internal sealed class PermitHandle : IConsulLockHandle, ILossReport
{
    private readonly Semaphores _owner;
    private readonly LossMonitor _contender;
    private readonly LossMonitor _holder;
    private readonly CancellationTokenSource _lost;
    private readonly long _grantedAt = Stopwatch.GetTimestamp();
    private int _disposed;

    public PermitHandle(Semaphores owner, string prefix, int limit, LockSession session, ulong fencingToken, LossMonitor contender, LossMonitor holder)
    {
        _owner = owner;
        Key = prefix;
        Limit = limit;
        Session = session;
        FencingToken = fencingToken;
        _contender = contender;
        _holder = holder;
        _lost = CancellationTokenSource.CreateLinkedTokenSource(contender.LostToken, holder.LostToken);
        LostToken = _lost.Token;
    }

    public string Key { get; }

    public int Limit { get; }

    public CancellationToken LostToken { get; }

    /// <summary>The ModifyIndex of <c>.lock</c> written by the grant: it increases with every grant of the semaphore.</summary>
    public ulong FencingToken { get; }

    public string SessionId => Session.Id;

    internal LockSession Session { get; }

    public string? LostReason => _contender.LostReason ?? _holder.LostReason;

    public bool HoldLimitReached => false;

    /// <summary>Reports the loss (once) and returns when the lost-token's callbacks have run.</summary>
    public Task LoseAsync(string reason) => Task.WhenAll(_contender.ReportAsync(reason), _holder.ReportAsync(reason));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _contender.DisposeAsync().ConfigureAwait(false);
        await _holder.DisposeAsync().ConfigureAwait(false);
        LockTelemetry.HoldDuration.Record(LockTelemetry.Seconds(_grantedAt));
        await _owner.ReleaseAsync(this).ConfigureAwait(false);
    }
}
