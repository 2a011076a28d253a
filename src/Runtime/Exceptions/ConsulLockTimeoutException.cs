namespace ConsulLock.Aop;

/// <summary>The wait timeout passed while another holder kept the lock.</summary>
public sealed class ConsulLockTimeoutException : ConsulLockException
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockTimeoutException(string key, TimeSpan timeout)
        : base($"The lock '{key}' was not acquired within {timeout.TotalMilliseconds:0} ms: another holder kept it.", key, statusCode: null, innerException: null)
    {
        Timeout = timeout;
    }

    /// <summary>How long the call waited.</summary>
    public TimeSpan Timeout { get; }
}
