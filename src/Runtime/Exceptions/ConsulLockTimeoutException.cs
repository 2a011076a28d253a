namespace ConsulLock.Aop;

/// <summary>
/// The wait timeout passed without the lock: either another holder kept it, or (when <see cref="Exception.InnerException"/>
/// is set) Consul was unreachable or failing when the wait ended, and the message names its last error.
/// </summary>
public sealed class ConsulLockTimeoutException : ConsulLockException
{
    /// <summary>Creates the exception for a wait that ended while another holder kept the lock.</summary>
    public ConsulLockTimeoutException(string key, TimeSpan timeout)
        : base($"The lock '{key}' was not acquired within {timeout.TotalMilliseconds:0} ms: another holder kept it.", key, statusCode: null, innerException: null)
    {
        Timeout = timeout;
    }

    /// <summary>Creates the exception for a wait that ended while Consul was failing; <paramref name="cause"/> is its last error.</summary>
    public ConsulLockTimeoutException(string key, TimeSpan timeout, ConsulLockException cause)
        : base(
            $"The lock '{key}' was not acquired within {timeout.TotalMilliseconds:0} ms because Consul was failing, not because of another holder. Last error: {cause?.Message}",
            key,
            cause?.StatusCode,
            cause)
    {
        ArgumentNullException.ThrowIfNull(cause);
        Timeout = timeout;
    }

    /// <summary>How long the call waited.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Whether Consul's failure, not another holder, ended the wait.</summary>
    public bool IsConsulFailure => InnerException is not null;
}
