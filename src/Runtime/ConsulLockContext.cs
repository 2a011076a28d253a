namespace ConsulLock.Aop;

/// <summary>
/// What a <see cref="ConsulLockedAttribute"/> body method can know about the lock it runs under. Take it as an extra
/// last parameter of the body.
/// </summary>
public sealed class ConsulLockContext
{
    /// <summary>Creates a context for a held lock.</summary>
    /// <param name="handle">The held lock.</param>
    /// <param name="cancellationToken">The token the body runs with: the caller's token linked to the lost-token.</param>
    public ConsulLockContext(IConsulLockHandle handle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        Key = handle.Key;
        FencingToken = handle.FencingToken;
        LostToken = handle.LostToken;
        SessionId = handle.SessionId;
        CancellationToken = cancellationToken;
    }

    /// <summary>The full key in Consul.</summary>
    public string Key { get; }

    /// <summary>The fencing token of this grant; see <see cref="IConsulLockHandle.FencingToken"/>.</summary>
    public ulong FencingToken { get; }

    /// <summary>Fires when the lock is lost; see <see cref="IConsulLockHandle.LostToken"/>.</summary>
    public CancellationToken LostToken { get; }

    /// <summary>The Consul session that holds the key.</summary>
    public string SessionId { get; }

    /// <summary>Fires when the caller cancels or the lock is lost.</summary>
    public CancellationToken CancellationToken { get; }
}
