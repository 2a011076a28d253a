namespace ConsulLock.Aop;

/// <summary>
/// Marks a partial method whose implementation the ConsulLock.Aop source generator writes as a leader election: it
/// campaigns for the key until the caller's <see cref="CancellationToken"/> fires, and runs the body method for each
/// term, with a token that fires when leadership is lost or the caller cancels.
/// </summary>
/// <remarks>
/// <para>
/// The method must be a <c>partial</c> method declaration without a body, in a <c>partial</c> type, return
/// <see cref="System.Threading.Tasks.Task"/> (CLA018) and take a <see cref="CancellationToken"/> (CLA017); it cannot
/// also carry <see cref="ConsulLockedAttribute"/> (CLA019). Key templates, the body method (<c>XCoreAsync</c> for
/// <c>XAsync</c>, typically <c>Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader)</c>), the
/// provider and durations follow the rules of <see cref="ConsulLockedAttribute"/>.
/// </para>
/// <para>
/// What a campaign does is <see cref="IConsulLockProvider.LeadAsync"/>: after a loss it campaigns again after a
/// jittered pause of at most the lock-delay; the caller's token resigns at once (a standby leads within a round trip)
/// and completes the task; the body returning resigns and completes it; the body throwing resigns and propagates.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class ConsulLeaderAttribute : Attribute
{
    /// <summary>Creates the attribute with a key template.</summary>
    /// <param name="key">The leadership key template, for example <c>"leaders/report-scheduler"</c> or <c>"leaders/{name}"</c>.</param>
    public ConsulLeaderAttribute(string key) => Key = key;

    /// <summary>The key template.</summary>
    public string Key { get; }

    /// <summary>The Consul session TTL, from <c>"10s"</c> to <c>"24h"</c>: a leader that dies is replaced within about twice this plus the lock-delay. Default: the provider's <see cref="ConsulLockOptions.SessionTtl"/>.</summary>
    public string? SessionTtl { get; set; }

    /// <summary>
    /// Consul's lock-delay after the leader's session is invalidated, from <c>"0s"</c> to <c>"60s"</c>; also the longest
    /// pause before a lost leader campaigns again. Default: the provider's <see cref="ConsulLockOptions.LockDelay"/>.
    /// </summary>
    public string? LockDelay { get; set; }

    /// <summary>What Consul does with the key when the leader's session ends. Default: <see cref="SessionBehavior.Release"/>.</summary>
    public SessionBehavior Behavior { get; set; }

    /// <summary>The name of the body method, when it does not follow the <c>XCore</c> / <c>XCoreAsync</c> convention.</summary>
    public string? Body { get; set; }

    /// <summary>The name of the lock provider to use (<c>Provider = nameof(locks)</c>), as for <see cref="ConsulLockedAttribute.Provider"/>.</summary>
    public string? Provider { get; set; }
}
