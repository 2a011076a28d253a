using ConsulLock.Aop.CompilerServices;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConsulLock.Aop;

/// <summary>
/// Distributed locks on Consul, in the format of Consul's Go client locks. Create one per process (or register it
/// with <c>services.AddConsulLocking(...)</c>) and dispose it at shutdown: disposal ends its sessions, which
/// releases every lock it still holds.
/// </summary>
/// <remarks>
/// Locks with equal session settings share a Consul session, renewed at TTL/2. A session that holds no lock is
/// destroyed after <see cref="ConsulLockOptions.SessionIdleTimeout"/>. Locks are not reentrant: a flow that holds a
/// key and asks for it again gets <see cref="ConsulLockReentrancyException"/> at once.
/// </remarks>
public sealed class ConsulLockProvider : IConsulLockProvider, IAsyncDisposable, IDisposable, IKeyFolderProvider, ISkipAwareProvider
{
    private readonly ConsulLockOptions _options;
    private readonly ConsulClient _client;
    private readonly LockEngine _engine;
    private int _disposed;

    /// <summary>Creates a provider.</summary>
    /// <param name="options">Where Consul is and the defaults of the locks; copied, so later changes have no effect.</param>
    /// <param name="loggerFactory">Where log events go; none when null.</param>
    /// <exception cref="ArgumentException">An option is invalid (address scheme, TTL or lock-delay out of range, ...).</exception>
    public ConsulLockProvider(ConsulLockOptions options, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, transport: null)
    {
    }

    // transport: tests only, one handler that carries every request (to count or disturb them).
    internal ConsulLockProvider(ConsulLockOptions options, ILoggerFactory? loggerFactory, HttpMessageHandler? transport)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _options.Validate();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("ConsulLock.Aop");
        _client = new ConsulClient(_options, transport);
        _engine = new LockEngine(_options, _client, logger);
    }

    /// <summary>The Consul sessions the provider holds now (for diagnostics and tests).</summary>
    internal IReadOnlyCollection<string> SessionIds => _engine.Sessions.SessionIds;

    internal ConsulClient Client => _client;


    internal LockEngine Engine => _engine;

    /// <inheritdoc />
    public ValueTask<IConsulLockHandle> AcquireAsync(string key, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        var (fullKey, settings, holds) = Prepare(key, request);
        var marker = FlowLocks.Enter(this, fullKey);
        return AcquireCoreAsync(fullKey, settings, holds, marker, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IConsulLockHandle?> TryAcquireAsync(string key, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        TryAcquire(key, timeout, request, skipOnTimeout: false, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The campaign's standing (leading, standing by, failing) is reported by <c>ConsulLockHealthCheck</c>.</remarks>
    public Task LeadAsync(string key, Func<ConsulLockContext, CancellationToken, Task> lead, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var lockDelay = SessionSettings.From(request, _options).LockDelay;
        return LeaderCampaign.RunAsync(this, key, lead, request, lockDelay, TimeProvider.System, _engine.Logger, Campaigns, cancellationToken, CampaignAcquire);
    }

    // After a loss the campaign queues behind the standbys (LockAttempt.QueueFirst). Not async: the flow's marker first.
    private ValueTask<IConsulLockHandle> CampaignAcquire(string key, ConsulLockRequest? request, bool afterLoss, CancellationToken cancellationToken)
    {
        var (fullKey, settings, holds) = Prepare(key, request);
        var marker = FlowLocks.Enter(this, fullKey);
        return CampaignAcquireCoreAsync(fullKey, settings, holds, marker, afterLoss, cancellationToken);
    }

    private async ValueTask<IConsulLockHandle> CampaignAcquireCoreAsync(
        string fullKey, SessionSettings settings, HoldLimits holds, FlowLocks.Marker marker, bool afterLoss, CancellationToken cancellationToken) =>
        await _engine.AcquireAsync(fullKey, settings, holds, timeout: null, marker, cancellationToken, queueFirst: afterLoss).ConfigureAwait(false)
        ?? throw new InvalidOperationException("An acquire without a timeout ended without the lock.");

    /// <summary>The campaigns running now (for the health check).</summary>
    internal LeaderCampaigns Campaigns { get; } = new();

    /// <inheritdoc />
    public async ValueTask<IConsulLockHandle> AcquireSemaphoreAsync(string prefix, int limit, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        var (fullPrefix, settings) = PrepareSemaphore(prefix, limit, request);
        return await _engine.Semaphores.AcquireAsync(fullPrefix, limit, settings, timeout: null, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("An acquire without a timeout ended without a permit.");
    }

    /// <inheritdoc />
    public ValueTask<IConsulLockHandle?> TryAcquireSemaphoreAsync(string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        TryAcquireSemaphore(prefix, limit, timeout, request, skipOnTimeout: false, cancellationToken);

    /// <inheritdoc />
    ValueTask<IConsulLockHandle?> ISkipAwareProvider.TryAcquireSemaphoreOrSkipAsync(string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request, CancellationToken cancellationToken) =>
        TryAcquireSemaphore(prefix, limit, timeout, request, skipOnTimeout: true, cancellationToken);

    private ValueTask<IConsulLockHandle?> TryAcquireSemaphore(string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request, bool skipOnTimeout, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout cannot be negative (TimeSpan.Zero tries once).");
        }

        var (fullPrefix, settings) = PrepareSemaphore(prefix, limit, request);
        return _engine.Semaphores.AcquireAsync(fullPrefix, limit, settings, timeout == Timeout.InfiniteTimeSpan ? null : timeout, cancellationToken, skipOnTimeout);
    }

    // Semaphore sessions end with their contender keys deleted (behaviour delete, as the Go client's), whatever the
    // request says: a key released by a dead session would stay behind. Holds are a lock's notion.
    private (string FullPrefix, SessionSettings Settings) PrepareSemaphore(string prefix, int limit, ConsulLockRequest? request)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (request is { MinHold: not null } or { MaxHold: not null })
        {
            throw new ArgumentException("MinHold and MaxHold apply to locks, not to semaphore permits.", nameof(request));
        }

        var (fullPrefix, settings, _) = Prepare(prefix, request);
        return (fullPrefix, settings with { Behavior = SessionBehavior.Delete });
    }

    /// <inheritdoc />
    ILogger ISkipAwareProvider.Logger => _engine.Logger;

    /// <inheritdoc />
    ValueTask<IConsulLockHandle?> ISkipAwareProvider.TryAcquireOrSkipAsync(string key, TimeSpan timeout, ConsulLockRequest? request, CancellationToken cancellationToken) =>
        TryAcquire(key, timeout, request, skipOnTimeout: true, cancellationToken);

    // Not an async method: the flow's held-key marker must be set in the caller's flow, before any await.
    private ValueTask<IConsulLockHandle?> TryAcquire(string key, TimeSpan timeout, ConsulLockRequest? request, bool skipOnTimeout, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout cannot be negative (TimeSpan.Zero tries once).");
        }

        var (fullKey, settings, holds) = Prepare(key, request);
        var marker = FlowLocks.Enter(this, fullKey);
        return _engine.AcquireAsync(fullKey, settings, holds, timeout == Timeout.InfiniteTimeSpan ? null : timeout, marker, cancellationToken, skipOnTimeout);
    }

    /// <inheritdoc />
    public ValueTask<ConsulLockHolder?> GetHolderAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = PrepareKey(key);
        return new(_engine.Holders.GetAsync(fullKey, cancellationToken));
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ConsulLockHolder?> WatchHolderAsync(string key, CancellationToken cancellationToken = default)
    {
        // Checked here, at the call, not when the enumeration starts.
        var fullKey = PrepareKey(key);
        return _engine.Holders.WatchAsync(fullKey, cancellationToken);
    }

    /// <summary>Ends every session of this provider, which releases the locks it still holds; their lost-tokens fire.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _engine.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
    }

    /// <summary>
    /// Makes the first lock of this process cost about what later ones do: opens the connection to Consul and runs
    /// the code a lock request takes once (a fresh process otherwise pays 0.1-0.3 s for it on its first lock). It reads
    /// Consul's leader and an empty folder under <see cref="ConsulLockOptions.KeyPrefix"/>, and writes nothing.
    /// <c>services.AddConsulLocking(...)</c> calls it when the host starts; call it yourself when you create the
    /// provider by hand and the first lock's latency matters.
    /// </summary>
    /// <exception cref="ConsulLockException">Consul did not answer or refused (the first lock would fail too).</exception>
    public Task WarmUpAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return WarmUpCoreAsync(cancellationToken);
    }

    private async Task WarmUpCoreAsync(CancellationToken cancellationToken)
    {
        await WarmUp.RunAsync(_client, KeyFolder.Join(_options.KeyPrefix, ".consullock-warm-up") + "/", cancellationToken).ConfigureAwait(false);
        _ = HolderDocument.Write(_options.InstanceName, traceParent: null);
        var session = await _engine.Sessions.RentAsync(SessionSettings.From(null, _options), cancellationToken).ConfigureAwait(false);
        _engine.Sessions.Return(session);
    }

    /// <summary>Synchronous disposal for containers that need it; prefer <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private (string FullKey, SessionSettings Settings, HoldLimits Holds) Prepare(string key, ConsulLockRequest? request)
    {
        var fullKey = PrepareKey(key);
        return (fullKey, SessionSettings.From(request, _options), HoldLimits.From(request));
    }

    private string PrepareKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var fullKey = FullKey(key);
        LockKey.Validate(fullKey);
        return fullKey;
    }

    /// <inheritdoc />
    string IKeyFolderProvider.FullKey(string key) => FullKey(key);

    private string FullKey(string key) => KeyFolder.Join(_options.KeyPrefix, key);

    private async ValueTask<IConsulLockHandle> AcquireCoreAsync(
        string fullKey, SessionSettings settings, HoldLimits holds, FlowLocks.Marker marker, CancellationToken cancellationToken) =>
        await _engine.AcquireAsync(fullKey, settings, holds, timeout: null, marker, cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidOperationException("An acquire without a timeout ended without the lock.");
}
