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
        : this(key, reason, holdLimitReached: false, innerException, token)
    {
    }

    /// <summary>Creates the exception; <paramref name="holdLimitReached"/> when the lock ended at its <c>MaxHold</c>.</summary>
    public ConsulLockLostException(string key, string? reason, bool holdLimitReached, Exception? innerException, CancellationToken token)
        : base(MessageFor(key, reason, holdLimitReached), innerException, token)
    {
        Key = key;
        Reason = reason;
        HoldLimitReached = holdLimitReached;
    }

    /// <summary>The key of the lost lock.</summary>
    public string Key { get; }

    /// <summary>What the engine saw (the session gone, the key deleted, released or taken, no renewal for a TTL, the hold limit), when known.</summary>
    public string? Reason { get; }

    /// <summary>
    /// The lock was not taken away: it reached its hold limit (<c>MaxHold</c>), and was released so that a hung job
    /// cannot block later runs.
    /// </summary>
    public bool HoldLimitReached { get; }

    private static string MessageFor(string key, string? reason, bool holdLimitReached) =>
        holdLimitReached ? $"The lock '{key}' was released while the work under it ran: {reason ?? "its hold limit (MaxHold) was reached"}."
        : reason is null ? $"The lock '{key}' was lost while the work under it ran."
        : $"The lock '{key}' was lost while the work under it ran: {reason}.";
}
