namespace ConsulLock.Aop.Chaos;

/// <summary>
/// One line a worker sent to the register. <see cref="At"/> is the worker's <c>Stopwatch.GetTimestamp()</c>
/// (CLOCK_MONOTONIC on Linux, comparable across the processes of one machine). Kinds: <c>start</c> and <c>end</c>
/// (fenced writes; <see cref="Accepted"/> says whether the register took them), <c>lost</c> (a lost-token fired),
/// <c>timeout</c>, <c>error</c>, <c>why</c> (the reason a caller's <see cref="ConsulLockLostException"/> gave),
/// <c>hello</c>, <c>bye</c>. <see cref="Detail"/>: the session of a start, the outcome of an end (<c>done</c>,
/// <c>cancelled</c>, <c>lost</c>), the exception type of an error, the loss reason of a why.
/// </summary>
public sealed record RegisterEvent(string Kind, string Flow, string Key, ulong Token, long At, string Detail, bool Accepted)
{
    /// <summary>The worker a flow belongs to: flow <c>w3.1</c> runs in worker <c>w3</c>.</summary>
    public string Worker => Flow.Split('.')[0];
}

/// <summary>How a fault may legitimately bend the rules the checker enforces.</summary>
public enum FaultExcuse
{
    /// <summary>No overlap is excused.</summary>
    None,

    /// <summary>The holder's process was suspended past the TTL: it cannot know; only the fencing token orders its writes.</summary>
    HolderSuspended,

    /// <summary>An operator deleted or force-released the key: Consul hands the key over without lock-delay.</summary>
    HandoverWithoutLockDelay,

    /// <summary>
    /// Consul lost its state (a dev agent restarted): keys are free at once, and the indexes the fencing tokens come
    /// from start again from 1, so tokens after it are lower than before it. No lock built on Consul's indexes can
    /// keep them increasing across that; the checker counts such grants apart.
    /// </summary>
    StateLost,
}

/// <summary>
/// One fault the nemesis injected, on the monotonic clock: from <see cref="Start"/> (just before it was injected)
/// to <see cref="Heal"/> (when the service was back: a leader elected, an agent answering, a connection forwarding).
/// </summary>
/// <param name="Name">What was done, for the table.</param>
/// <param name="Workers">The workers it hits; null: all of them.</param>
/// <param name="MayCauseLoss">Whether a lost-token of those workers in or shortly after it has a cause (see docs/reliability.md).</param>
/// <param name="Excuse">Which overlaps it excuses, and on which <paramref name="Key"/> (null: every key).</param>
/// <param name="LockDelayOnKey">It invalidated a session that held <paramref name="Key"/> in Consul (an operator's destroy):
/// Consul keeps the key from everyone for the lock-delay after it, whatever the register saw of its holder, and so every
/// other key that <paramref name="Session"/> held then.</param>
/// <param name="Session">The session an operator's action aimed at (the holder's of <paramref name="Key"/>).</param>
/// <param name="ReplayedLockDelayUntil">The leader after it is a server restarted less than a lock-delay before: replaying
/// its Raft log re-armed Consul's lock-delay on every key whose session ended in that log, so it may refuse any key
/// until then (see <c>Nemesis</c>).</param>
public sealed record Fault(
    string Name, long Start, long Heal, IReadOnlyList<string>? Workers, bool MayCauseLoss, FaultExcuse Excuse = FaultExcuse.None, string? Key = null,
    bool LockDelayOnKey = false, string? Session = null, long? ReplayedLockDelayUntil = null)
{
    public bool Hits(string worker) => Workers is null || Workers.Contains(worker);
}

/// <summary>A phase of a run: the faults injected in it and the settle time after, on the monotonic clock.</summary>
public sealed record ScenarioRun(string Name, long Start, long End, IReadOnlyList<Fault> Faults);

/// <summary>One critical section as the checker sees it, assembled from a flow's start, end and lost lines.</summary>
public sealed record Section(string Flow, string Key, ulong Token, long Start, long? End, long? Lost, string Outcome, bool StartAccepted, bool EndAccepted)
{
    public string Worker => Flow.Split('.')[0];

    /// <summary>Until when the holder believed it held the key: its end or its lost-token, whichever came first.</summary>
    public long BelievedUntil => Math.Min(End ?? long.MaxValue, Lost ?? long.MaxValue);
}
