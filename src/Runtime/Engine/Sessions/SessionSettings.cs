namespace ConsulLock.Aop.Engine;

/// <summary>
/// What makes two sessions interchangeable. Locks whose settings are equal share one session, so holding many locks
/// costs one session write per renewal period, not one per lock.
/// </summary>
internal readonly record struct SessionSettings(TimeSpan Ttl, TimeSpan LockDelay, SessionBehavior Behavior)
{
    public static readonly TimeSpan MinTtl = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan MaxTtl = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxLockDelay = TimeSpan.FromSeconds(60);

    /// <summary>Resolves a request against the provider's defaults and checks the result.</summary>
    public static SessionSettings From(ConsulLockRequest? request, ConsulLockOptions options)
    {
        var settings = new SessionSettings(
            request?.SessionTtl ?? options.SessionTtl,
            request?.LockDelay ?? options.LockDelay,
            request?.Behavior ?? options.Behavior);
        settings.Validate(request is null ? "ConsulLockOptions" : "ConsulLockRequest");
        return settings;
    }

    public void Validate(string source)
    {
        if (Ttl < MinTtl || Ttl > MaxTtl)
        {
            throw new ArgumentOutOfRangeException(source + ".SessionTtl", Ttl, "The session TTL must be from 10 seconds to 24 hours (Consul's limits).");
        }

        if (LockDelay < TimeSpan.Zero || LockDelay > MaxLockDelay)
        {
            throw new ArgumentOutOfRangeException(source + ".LockDelay", LockDelay, "The lock-delay must be from 0 to 60 seconds (Consul's limits).");
        }

        if (!Enum.IsDefined(Behavior))
        {
            throw new ArgumentOutOfRangeException(source + ".Behavior", Behavior, "The session behaviour must be Release or Delete.");
        }
    }
}
