namespace ConsulLock.Aop;

/// <summary>A lock could not be acquired, held or released because of Consul's answer or its absence.</summary>
public class ConsulLockException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockException(string message)
        : this(message, key: null, statusCode: null, innerException: null)
    {
    }

    /// <summary>Creates the exception with the exception that caused it.</summary>
    public ConsulLockException(string message, Exception? innerException)
        : this(message, key: null, statusCode: null, innerException)
    {
    }

    /// <summary>Creates the exception for a key and, when Consul answered, the HTTP status of its answer.</summary>
    public ConsulLockException(string message, string? key, int? statusCode, Exception? innerException)
        : base(message, innerException)
    {
        Key = key;
        StatusCode = statusCode;
    }

    /// <summary>The lock key concerned, when there is one.</summary>
    public string? Key { get; }

    /// <summary>The HTTP status code of Consul's answer, when Consul answered (403 for an ACL denial, for example).</summary>
    public int? StatusCode { get; }
}
