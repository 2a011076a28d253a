namespace ConsulLock.Aop;

/// <summary>A held lock. Disposing it releases the lock.</summary>
public interface IConsulLockHandle : IAsyncDisposable
{
    /// <summary>The full key in Consul, prefix included.</summary>
    string Key { get; }

    /// <summary>
    /// Fires when the lock is lost: the session was invalidated or destroyed, the key was deleted or taken by another
    /// session, or no renewal was acknowledged for one session TTL. Work done under the lock should stop when it fires.
    /// </summary>
    CancellationToken LostToken { get; }

    /// <summary>
    /// A number that strictly increases with each grant of this key, so that a downstream store can reject writes
    /// from a holder that has since lost the lock.
    /// </summary>
    ulong FencingToken { get; }

    /// <summary>The Consul session that holds the key.</summary>
    string SessionId { get; }
}
