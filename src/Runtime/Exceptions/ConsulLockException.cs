namespace ConsulLock.Aop;

/// <summary>A lock could not be acquired, held or released because of Consul's answer or its absence.</summary>
public class ConsulLockException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockException(string message, string? key = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Key = key;
    }

    /// <summary>The lock key concerned, when there is one.</summary>
    public string? Key { get; }
}
