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

    /// <summary>
    /// How long the key stays held at least, from the grant, 0 to 24 hours (contract section 7): when the holder
    /// releases sooner, and also when its process exits or crashes meanwhile, the key stays held in Consul until then,
    /// so a scheduled job whose timer fires a little later on another instance does not run a second time. Free again
    /// within a second of that time while the holder's process lives; at most 20 seconds later when it does not.
    /// </summary>
    public TimeSpan? MinHold { get; init; }

    /// <summary>
    /// How long the key is held at most, from the grant, 1 second to 24 hours: then the holder's lost-token fires
    /// (its reason says the hold limit was reached) and the key is released, so a hung job cannot block later runs.
    /// Not shorter than <see cref="MinHold"/>.
    /// </summary>
    public TimeSpan? MaxHold { get; init; }
}
