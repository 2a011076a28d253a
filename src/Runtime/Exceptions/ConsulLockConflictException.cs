namespace ConsulLock.Aop;

/// <summary>The key exists in Consul but is not a lock: it holds other data, or a semaphore.</summary>
public sealed class ConsulLockConflictException : ConsulLockException
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockConflictException(string message, string key)
        : base(message, key, statusCode: null, innerException: null)
    {
    }
}
