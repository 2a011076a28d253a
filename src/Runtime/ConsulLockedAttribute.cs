namespace ConsulLock.Aop;

/// <summary>
/// Marks a partial method whose implementation the ConsulLock.Aop source generator writes: it builds a lock key
/// from the arguments, acquires a Consul lock on it, runs the body method with a token that fires when the caller
/// cancels or the lock is lost, and releases the lock when the body ends.
/// </summary>
/// <remarks>
/// <para>
/// The method must be a <c>partial</c> method declaration without a body, in a <c>partial</c> type, returning
/// <see cref="System.Threading.Tasks.Task"/>, <see cref="System.Threading.Tasks.Task{TResult}"/>,
/// <see cref="System.Threading.Tasks.ValueTask"/> or <see cref="System.Threading.Tasks.ValueTask{TResult}"/>.
/// The body is the method named <c>XCore</c> for <c>X</c>, or <c>XCoreAsync</c> for <c>XAsync</c>, unless
/// <see cref="Body"/> names another. The lock provider is found as <see cref="Provider"/> describes.
/// </para>
/// <para>
/// A placeholder may carry a format applied with the invariant culture, <c>{day:yyyy-MM-dd}</c> or
/// <c>{amount:F2}</c>; the generator checks that the value takes it (CLA014).
/// </para>
/// <para>
/// Durations are written in Consul's notation (<c>"250ms"</c>, <c>"10s"</c>, <c>"5m"</c>, <c>"1h"</c>) and are
/// checked at compile time.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class ConsulLockedAttribute : Attribute
{
    /// <summary>Creates the attribute with a key template.</summary>
    /// <param name="key">
    /// The key template, for example <c>"webhook_receiver/{id}"</c>. <c>{name}</c> or <c>&lt;name&gt;</c> is replaced
    /// by the argument <c>name</c>, <c>{name.Member}</c> follows properties or fields; each value is escaped so that it
    /// stays one key segment. A literal brace or angle bracket is written doubled.
    /// </param>
    public ConsulLockedAttribute(string key) => Key = key;

    /// <summary>The key template.</summary>
    public string Key { get; }

    /// <summary>
    /// How long to wait for a busy lock, for example <c>"30s"</c>; <c>"0s"</c> tries once. When not set, the call waits
    /// until the caller's <see cref="CancellationToken"/> is cancelled.
    /// </summary>
    public string? WaitTimeout { get; set; }

    /// <summary>What happens when <see cref="WaitTimeout"/> passes without the lock. Default: <see cref="LockTimeoutBehavior.Throw"/>.</summary>
    public LockTimeoutBehavior OnTimeout { get; set; }

    /// <summary>The Consul session TTL, from <c>"10s"</c> to <c>"24h"</c>. Default: the provider's <see cref="ConsulLockOptions.SessionTtl"/>.</summary>
    public string? SessionTtl { get; set; }

    /// <summary>
    /// Consul's lock-delay after the holder's session is invalidated, from <c>"0s"</c> to <c>"60s"</c>.
    /// Default: the provider's <see cref="ConsulLockOptions.LockDelay"/>.
    /// </summary>
    public string? LockDelay { get; set; }

    /// <summary>What Consul does with the key when the holding session ends. Default: <see cref="SessionBehavior.Release"/>.</summary>
    public SessionBehavior Behavior { get; set; }

    /// <summary>
    /// How long the key stays held at least, from the grant, from <c>"0s"</c> to <c>"24h"</c>: when the body ends
    /// sooner, and also when the process exits or crashes meanwhile, the key stays held in Consul until then, so an
    /// instance whose timer fires a little later does not run the job a second time (see <see cref="ConsulLockRequest.MinHold"/>).
    /// </summary>
    public string? MinHold { get; set; }

    /// <summary>
    /// How long the key is held at most, from the grant, from <c>"1s"</c> to <c>"24h"</c>, not shorter than
    /// <see cref="MinHold"/>: then the body's token fires, the caller gets <see cref="ConsulLockLostException"/> with
    /// <see cref="ConsulLockLostException.HoldLimitReached"/> set, and the key is released (see <see cref="ConsulLockRequest.MaxHold"/>).
    /// </summary>
    public string? MaxHold { get; set; }

    /// <summary>The name of the body method, when it does not follow the <c>XCore</c> / <c>XCoreAsync</c> convention.</summary>
    public string? Body { get; set; }

    /// <summary>
    /// The name of the lock provider to use, written <c>Provider = nameof(locks)</c>: a parameter of the method, or a
    /// field, property or primary-constructor parameter of the type, of type <see cref="IConsulLockProvider"/>.
    /// Needed only when there is more than one candidate (the generator then reports CLA015 until one is named).
    /// </summary>
    /// <remarks>
    /// Without it the provider is, in this order: the method's parameter of type <see cref="IConsulLockProvider"/>; a
    /// field or property of the type (static ones for a static method); a primary-constructor parameter (instance
    /// methods); else <see cref="ConsulLocking.Default"/>.
    /// </remarks>
    public string? Provider { get; set; }
}
