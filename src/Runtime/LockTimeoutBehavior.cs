namespace ConsulLock.Aop;

/// <summary>What a <see cref="ConsulLockedAttribute"/> method does when its wait timeout passes without the lock.</summary>
public enum LockTimeoutBehavior
{
    /// <summary>Throw <see cref="ConsulLockTimeoutException"/>.</summary>
    Throw = 0,

    /// <summary>Do not run the body; the method completes with <see langword="default"/> as its result.</summary>
    Skip = 1,
}
