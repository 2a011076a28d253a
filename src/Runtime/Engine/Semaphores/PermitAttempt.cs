using System.Diagnostics;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// One acquire of a semaphore permit, with what a give-up needs to clean up: the contender's own session, and the last
/// request that may have changed Consul (the join, or the grant's check-and-set) whose answer may not have come.
/// </summary>
internal sealed class PermitAttempt(string prefix, int limit, SessionSettings settings, Deadline deadline, CancellationToken cancellationToken)
{
    public string Prefix { get; } = prefix;

    public int Limit { get; } = limit;

    public SessionSettings Settings { get; } = settings;

    public Deadline Deadline { get; } = deadline;

    public long Started { get; } = Stopwatch.GetTimestamp();

    /// <summary>Fires at the caller's deadline, on its cancellation and on the provider's disposal.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Whether it found every permit taken at least once: a deadline that passes then is a busy semaphore, unless Consul failed.</summary>
    public bool FoundBusy { get; set; }

    /// <summary>The contender's session (one of its own: Consul's layout counts sessions); its key is named after it.</summary>
    public LockSession? Session { get; set; }

    /// <summary>The last request that may have written the contender key or a holder entry.</summary>
    public Task? Pending { get; set; }
}
