namespace ConsulLock.Aop;

/// <summary>
/// Per-lock settings. A property left <see langword="null"/> takes the provider's value from
/// <see cref="ConsulLockOptions"/>. Locks whose settings are equal share Consul sessions.
/// </summary>
public sealed record ConsulLockRequest
{
    /// <summary>The session TTL, 10 seconds to 24 hours.</summary>
    public TimeSpan? SessionTtl { get; init; }

    /// <summary>Consul's lock-delay after the holder's session is invalidated, 0 to 60 seconds.</summary>
    public TimeSpan? LockDelay { get; init; }

    /// <summary>What Consul does with the key when the holding session ends.</summary>
    public SessionBehavior? Behavior { get; init; }
}
