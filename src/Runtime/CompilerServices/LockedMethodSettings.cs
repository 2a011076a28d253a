using System.ComponentModel;

namespace ConsulLock.Aop.CompilerServices;

/// <summary>
/// The settings of one <see cref="ConsulLockedAttribute"/> method, as the generator read them at compile time.
/// Generated code creates one per method and keeps it in a static field.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class LockedMethodSettings
{
    /// <summary>Creates the settings.</summary>
    /// <param name="request">Per-lock settings, or <see langword="null"/> for the provider's defaults.</param>
    /// <param name="waitTimeout">How long to wait for a busy lock; <see langword="null"/> waits until the caller cancels.</param>
    /// <param name="onTimeout">What to do when <paramref name="waitTimeout"/> passes.</param>
    public LockedMethodSettings(ConsulLockRequest? request, TimeSpan? waitTimeout, LockTimeoutBehavior onTimeout)
    {
        if (waitTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(waitTimeout), waitTimeout, "The wait timeout cannot be negative.");
        }

        Request = request;
        WaitTimeout = waitTimeout;
        OnTimeout = onTimeout;
    }

    /// <summary>The settings of a <see cref="ConsulSemaphoreAttribute"/> method: a permit of a semaphore of <paramref name="semaphoreLimit"/>.</summary>
    public LockedMethodSettings(ConsulLockRequest? request, TimeSpan? waitTimeout, LockTimeoutBehavior onTimeout, int semaphoreLimit)
        : this(request, waitTimeout, onTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(semaphoreLimit, 1);
        SemaphoreLimit = semaphoreLimit;
    }

    /// <summary>Per-lock settings, or <see langword="null"/> for the provider's defaults.</summary>
    public ConsulLockRequest? Request { get; }

    /// <summary>How long to wait for a busy lock; <see langword="null"/> waits until the caller cancels.</summary>
    public TimeSpan? WaitTimeout { get; }

    /// <summary>What to do when <see cref="WaitTimeout"/> passes.</summary>
    public LockTimeoutBehavior OnTimeout { get; }

    /// <summary>The semaphore's limit for a <see cref="ConsulSemaphoreAttribute"/> method; null for a lock.</summary>
    public int? SemaphoreLimit { get; }
}
