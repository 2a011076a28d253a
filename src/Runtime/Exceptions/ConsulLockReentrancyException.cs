namespace ConsulLock.Aop;

/// <summary>
/// The calling flow already holds this key and asked for it again. Locks are not reentrant: waiting would deadlock,
/// so the call fails at once.
/// </summary>
public sealed class ConsulLockReentrancyException : ConsulLockException
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockReentrancyException(string key)
        : base($"The lock '{key}' is already held by this flow; ConsulLock.Aop locks are not reentrant.", key, statusCode: null, innerException: null)
    {
    }
}
