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
}
