namespace ConsulLock.Aop;

/// <summary>
/// Runs the method's body while holding a permit of the Consul semaphore at <see cref="Prefix"/>: at most
/// <see cref="Limit"/> bodies at once across all processes (contract section 10). Declare the method <c>partial</c>
/// without a body; the source generator writes it. Key, body, provider, wait, skip, token and context rules are those
/// of <see cref="ConsulLockedAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class ConsulSemaphoreAttribute : Attribute
{
    /// <summary>Marks a method to run under a permit of the semaphore at <paramref name="prefix"/>.</summary>
    /// <param name="prefix">The semaphore's folder, a template as a <see cref="ConsulLockedAttribute"/> key is (<c>"exports/{tenant}"</c>).</param>
    public ConsulSemaphoreAttribute(string prefix) => Prefix = prefix;

    /// <summary>The semaphore's folder template.</summary>
    public string Prefix { get; }

    /// <summary>How many bodies may run at once across all processes; at least 1, the same for every holder of the prefix.</summary>
    public int Limit { get; set; }

    /// <summary>How long to wait for a permit, in Consul's notation (<c>"30s"</c>); <c>"0s"</c> tries once. Default: until the caller cancels.</summary>
    public string? WaitTimeout { get; set; }

    /// <summary>What a caller gets when <see cref="WaitTimeout"/> passes: an exception, or the body skipped.</summary>
    public LockTimeoutBehavior OnTimeout { get; set; }

    /// <summary>The permit's session TTL, <c>"10s"</c>..<c>"24h"</c>; default: the provider's.</summary>
    public string? SessionTtl { get; set; }

    /// <summary>The permit session's lock-delay, <c>"0s"</c>..<c>"60s"</c>; default: the provider's.</summary>
    public string? LockDelay { get; set; }

    /// <summary>The body method's name; default <c>XCore</c> for <c>X</c>, <c>XCoreAsync</c> for <c>XAsync</c>.</summary>
    public string? Body { get; set; }

    /// <summary>The member that provides the <see cref="IConsulLockProvider"/>, when several could.</summary>
    public string? Provider { get; set; }
}
