namespace ConsulLock.Aop.Engine;

/// <summary>
/// What a handle knows about its loss, for <see cref="CompilerServices.LockedMethodRunner"/> to tell the caller of a
/// <c>[ConsulLocked]</c> method why its body was cancelled. Implemented by every handle this library makes (the
/// engine's and the in-memory provider's), so that the caller learns the same from both.
/// </summary>
internal interface ILossReport
{
    /// <summary>Why the lock was lost, once it was; <see langword="null"/> before.</summary>
    string? LostReason { get; }

    /// <summary>Whether the lock ended at its hold limit (<c>MaxHold</c>) rather than being taken away.</summary>
    bool HoldLimitReached { get; }
}
