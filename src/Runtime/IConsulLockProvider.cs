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
    /// Who holds <paramref name="key"/> now: its holder's instance, session, node, grant time, fencing token and trace
    /// parent, and how many processes wait for it. Works for keys held by Consul's Go client too (named by their session).
    /// </summary>
    /// <param name="key">The lock key, relative to <see cref="ConsulLockOptions.KeyPrefix"/>.</param>
    /// <param name="cancellationToken">Ends the read with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The holder, or <see langword="null"/> when nobody holds the key.</returns>
    /// <exception cref="ArgumentException">The key is not a valid lock key.</exception>
    /// <exception cref="ConsulLockException">Consul refused the read or could not be reached.</exception>
    ValueTask<ConsulLockHolder?> GetHolderAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// The holder of <paramref name="key"/> now, then each change in order: a new holder, or <see langword="null"/> when
    /// the key is free. Runs on Consul blocking queries until <paramref name="cancellationToken"/> fires; transient
    /// Consul failures are ridden out, as the engine's own watches do.
    /// </summary>
    /// <param name="key">The lock key, relative to <see cref="ConsulLockOptions.KeyPrefix"/>.</param>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ArgumentException">The key is not a valid lock key (thrown by this call, before any enumeration).</exception>
    /// <exception cref="ConsulLockException">Consul refused to show the key (an ACL, say).</exception>
    IAsyncEnumerable<ConsulLockHolder?> WatchHolderAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Campaigns for the leadership of <paramref name="key"/> until <paramref name="cancellationToken"/> fires: each term
    /// waits for the key, then runs <paramref name="lead"/> with the term's <see cref="ConsulLockContext"/> (its fencing
    /// token strictly increases from term to term) and a token that fires when leadership is lost or the caller cancels.
    /// </summary>
    /// <remarks>
    /// <para>
    /// After a loss (the session ended, the key was taken or deleted, renewals failed for a TTL) the term's token fires;
    /// once <paramref name="lead"/> has ended, the campaign goes on after a jittered pause of at most the lock-delay,
    /// which lets the standbys lead first. <paramref name="cancellationToken"/> firing (a host shutting down) ends the
    /// term's token, resigns as soon as <paramref name="lead"/> has ended, so that a standby leads within a round trip,
    /// and completes the task. <paramref name="lead"/> returning resigns and completes the task; <paramref name="lead"/>
    /// throwing resigns and propagates the exception (a cancellation caused by the term's token is not an error).
    /// </para>
    /// <para>
    /// Consul failing during a campaign does not end it: transient failures are retried by the acquire itself, and a
    /// refusal (ACL, a key that holds other data) is logged and tried again with a capped back-off. A term never
    /// overlaps another as long as <paramref name="lead"/> honours its token: the key is released only after it ends.
    /// </para>
    /// <para>The default implementation runs the same campaign on <see cref="AcquireAsync"/>.</para>
    /// </remarks>
    /// <param name="key">The leadership key, relative to <see cref="ConsulLockOptions.KeyPrefix"/>.</param>
    /// <param name="lead">A term's work; it should return (or throw <see cref="OperationCanceledException"/>) when its token fires.</param>
    /// <param name="request">Per-lock settings of the key; <see langword="null"/> takes the provider's defaults.</param>
    /// <param name="cancellationToken">Ends the campaign: resigns at once and completes the task.</param>
    /// <returns>A task that completes when the campaign ends.</returns>
    /// <exception cref="ArgumentException">The key is not a valid lock key.</exception>
    /// <exception cref="ConsulLockReentrancyException">The calling flow already holds <paramref name="key"/>.</exception>
    Task LeadAsync(string key, Func<ConsulLockContext, CancellationToken, Task> lead, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        Engine.LeaderCampaign.RunAsync(this, key, lead, request, request?.LockDelay ?? TimeSpan.FromSeconds(15), TimeProvider.System, logger: null, campaigns: null, cancellationToken);

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
