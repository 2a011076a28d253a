using System.Diagnostics;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>One acquire's state, so that giving up knows what to clean (see <see cref="InDoubtCleanup"/>).</summary>
/// <param name="key">The full key.</param>
/// <param name="settings">The session settings the lock asks for.</param>
/// <param name="holds">How long the lock is held at least and at most.</param>
/// <param name="deadline">When the caller stops waiting.</param>
/// <param name="marker">The caller's flow's mark on the key (reentrancy).</param>
/// <param name="cancellationToken">Fires when the caller cancels or its deadline passes: every request and wait of the
/// attempt is bounded by it, so the caller never waits past its deadline, whatever Consul does.</param>
/// <param name="callerToken">The caller's own token.</param>
internal sealed class LockAttempt(
    string key, SessionSettings settings, HoldLimits holds, Deadline deadline, FlowLocks.Marker marker, CancellationToken cancellationToken, CancellationToken callerToken)
{
    public string Key { get; } = key;

    public SessionSettings Settings { get; } = settings;

    public HoldLimits Holds { get; } = holds;

    public Deadline Deadline { get; } = deadline;

    public FlowLocks.Marker Marker { get; } = marker;

    /// <summary>
    /// Take a place in the key's queue before trying, behind the processes already waiting: a leader campaigning again
    /// after losing the key lets its standbys lead first (Consul's lock-delay has no event, so a free key would go to
    /// whoever tries first when it ends, not to whoever waited longest).
    /// </summary>
    public bool QueueFirst { get; init; }

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Whether the attempt was stopped by its deadline, not by its caller.</summary>
    public bool DeadlineStopped => CancellationToken.IsCancellationRequested && !callerToken.IsCancellationRequested;

    public long Started { get; } = Stopwatch.GetTimestamp();

    /// <summary>The provider's <see cref="ConsulLockOptions.InstanceName"/>, written into the key with the lock request.</summary>
    public string InstanceName { get; init; } = "";

    /// <summary>The acquire's own <see cref="System.Diagnostics.Activity"/> (null when nobody listens): waiting links it to the holder's trace.</summary>
    public Activity? Activity { get; init; }

    /// <summary>The W3C traceparent written into the key: the acquire's activity, else the caller's.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The holder document sent with the last lock request (<see cref="HolderDocument"/>).</summary>
    public string? Document { get; set; }

    /// <summary>The holder's traceparent the acquire's activity was last linked to, so that one holder is linked once.</summary>
    public string? LinkedTraceParent { get; set; }

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

    /// <summary>Gives up the rented session (it is lost or gone): the next try rents a new one.</summary>
    public void DropSession(SessionPool sessions)
    {
        if (Session is { } session)
        {
            sessions.Return(session);
            Session = null;
        }
    }
}
