namespace ConsulLock.Aop;

/// <summary>Acquires distributed locks. <c>ConsulLockProvider</c> is the Consul implementation.</summary>
public interface IConsulLockProvider
{
    /// <summary>
    /// Acquires the lock on <paramref name="key"/>, waiting as long as it takes, until
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="key">The lock key, relative to <see cref="ConsulLockOptions.KeyPrefix"/>.</param>
    /// <param name="request">Per-lock settings; <see langword="null"/> takes the provider's defaults.</param>
    /// <param name="cancellationToken">Ends the wait with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The handle; dispose it to release the lock.</returns>
    /// <exception cref="ArgumentException">The key is not a valid lock key.</exception>
    /// <exception cref="ConsulLockConflictException">The key holds data that is not a lock.</exception>
    /// <exception cref="ConsulLockException">Consul refused the request or could not be reached.</exception>
    ValueTask<IConsulLockHandle> AcquireAsync(string key, ConsulLockRequest? request = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tries to acquire the lock on <paramref name="key"/> within <paramref name="timeout"/>;
    /// <see cref="TimeSpan.Zero"/> tries once.
    /// </summary>
    /// <returns>The handle, or <see langword="null"/> when the timeout passed without the lock.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    ValueTask<IConsulLockHandle?> TryAcquireAsync(string key, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Acquires a permit of the semaphore at <paramref name="prefix"/>: at most <paramref name="limit"/> holders at once
    /// across all processes, in the layout of Consul's Go client (<c>api.Semaphore</c>, <c>consul lock -n</c>): a
    /// contender key <c>&lt;prefix&gt;/&lt;session&gt;</c> per permit and <c>&lt;prefix&gt;/.lock</c>. Waits as long as
    /// it takes, until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="prefix">The semaphore's folder, relative to <see cref="ConsulLockOptions.KeyPrefix"/>; the handle's <see cref="IConsulLockHandle.Key"/>.</param>
    /// <param name="limit">How many may hold a permit at once; every holder of the prefix must use the same.</param>
    /// <param name="request">Per-permit session settings (<c>SessionTtl</c>, <c>LockDelay</c>); <see langword="null"/> takes the provider's defaults.</param>
    /// <param name="cancellationToken">Ends the wait with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The handle; dispose it to release the permit. Its <see cref="IConsulLockHandle.LostToken"/> fires when its
    /// session ends, its contender key is deleted or it is dropped from the holders.</returns>
    /// <exception cref="ArgumentException">The prefix is not a valid key.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is below 1.</exception>
    /// <exception cref="ConsulLockConflictException"><c>.lock</c> has another limit, or the prefix is used as a lock or holds other data.</exception>
    /// <exception cref="NotSupportedException">The provider has no semaphores.</exception>
    ValueTask<IConsulLockHandle> AcquireSemaphoreAsync(string prefix, int limit, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not implement semaphores.");

    /// <summary>
    /// Tries to acquire a permit of the semaphore at <paramref name="prefix"/> within <paramref name="timeout"/>;
    /// <see cref="TimeSpan.Zero"/> tries once. See <see cref="AcquireSemaphoreAsync"/>.
    /// </summary>
    /// <returns>The handle, or <see langword="null"/> when the timeout passed while <paramref name="limit"/> others held permits.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative, or <paramref name="limit"/> is below 1.</exception>
    ValueTask<IConsulLockHandle?> TryAcquireSemaphoreAsync(string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not implement semaphores.");
}
