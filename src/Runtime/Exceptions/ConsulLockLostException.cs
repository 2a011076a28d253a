namespace ConsulLock.Aop;

/// <summary>
/// The lock was lost while the work under it ran, and the work ended by cancellation. It derives from
/// <see cref="OperationCanceledException"/>, so code that treats cancellation generally still works, while a caller
/// can tell "I cancelled" from "the lock was taken away".
/// </summary>
public sealed class ConsulLockLostException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    public ConsulLockLostException(string key, string? reason, Exception? innerException, CancellationToken token)
        : base(reason is null ? $"The lock '{key}' was lost while the work under it ran." : $"The lock '{key}' was lost while the work under it ran: {reason}.", innerException, token)
    {
        Key = key;
    }

    /// <summary>The key of the lost lock.</summary>
    public string Key { get; }
}
