using System.Diagnostics;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>One acquire's state, so that giving up knows what to clean (see <see cref="InDoubtCleanup"/>).</summary>
internal sealed class LockAttempt(string key, SessionSettings settings, Deadline deadline, FlowLocks.Marker marker, CancellationToken cancellationToken)
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
