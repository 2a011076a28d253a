namespace ConsulLock.Aop;

/// <summary>What a <see cref="ConsulLockedAttribute"/> method does when its wait timeout passes without the lock.</summary>
public enum LockTimeoutBehavior
{
    /// <summary>Throw <see cref="ConsulLockTimeoutException"/>.</summary>
    Throw = 0,

    /// <summary>
    /// Do not run the body; the method completes with <see langword="default"/> as its result. Declare a result that
    /// says so, <c>Task&lt;bool&gt;</c> whose body returns <see langword="true"/> or a nullable <c>Task&lt;T?&gt;</c>, and
    /// the caller sees <see langword="false"/> or <see langword="null"/> (any other result draws warning CLA011). The
    /// skip is also logged at Information and counted in <c>consullock.skips</c>.
    /// </summary>
    Skip = 1,
}
