using ConsulLock.Aop.Engine;

namespace ConsulLock.Aop.Testing;

/// <summary>
/// An <see cref="IConsulLockProvider"/> that keeps its locks in this process's memory, for the unit tests of code that
/// takes locks (<c>[ConsulLocked]</c> methods included): no Consul, no network, no timing. It is not a distributed
/// lock and must never stand in for one in production.
/// </summary>
/// <remarks>
/// It behaves as <see cref="ConsulLockProvider"/> does where a test can tell: keys and requests are validated the same
/// way, callers of one key exclude each other, waits honour timeouts and cancellation, locks are not reentrant, and
/// fencing tokens strictly increase per provider. Keys are named as <see cref="ConsulLockProvider"/> names them: the
/// full key, <see cref="ConsulLockOptions.KeyPrefix"/> included (<see cref="HeldKeys"/>, <see cref="IsHeld"/>,
/// <see cref="Lose"/>, <see cref="IConsulLockHandle.Key"/> and every exception). <see cref="Lose"/> makes a held lock lost, as when someone destroys
/// its Consul session: the holder's <see cref="IConsulLockHandle.LostToken"/> fires and the key is free at once.
/// </remarks>
public sealed class InMemoryConsulLockProvider : IConsulLockProvider, IAsyncDisposable, IKeyFolderProvider
{
    private readonly ConsulLockOptions _options;
    private readonly KeyGates _gates = new();
    private readonly Dictionary<string, Handle> _held = new(StringComparer.Ordinal);
    private long _lastToken;
    private bool _disposed;

    /// <summary>Creates a provider with the default options and no key prefix.</summary>
    public InMemoryConsulLockProvider()
        : this(new ConsulLockOptions())
    {
    }

    /// <summary>Creates a provider that applies <paramref name="options"/>' key prefix and lock defaults.</summary>
    /// <exception cref="ArgumentException">An option is invalid, as <see cref="ConsulLockProvider"/> would say.</exception>
    public InMemoryConsulLockProvider(ConsulLockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _options.Validate();
    }

    /// <summary>The full keys (prefix included) held now.</summary>
    public IReadOnlyCollection<string> HeldKeys
    {
        get
        {
            lock (_held)
            {
                return [.. _held.Keys];
            }
        }
    }

    /// <summary>How many times a lock was granted.</summary>
    public long GrantCount => Interlocked.Read(ref _lastToken);

    /// <summary>
    /// Whether the full key <paramref name="key"/> (prefix included, as in <see cref="HeldKeys"/> and
    /// <see cref="IConsulLockHandle.Key"/>) is held now.
    /// </summary>
    /// <exception cref="ArgumentException">The provider has a key prefix and <paramref name="key"/> is not under it.</exception>
    public bool IsHeld(string key)
    {
        CheckFullKey(key);
        lock (_held)
        {
            return _held.ContainsKey(key);
        }
    }

    /// <summary>
    /// Makes the lock on the full key <paramref name="key"/> (prefix included, as <see cref="IsHeld"/> takes it) lost,
    /// as when its Consul session is destroyed: the holder's lost-token fires and the key is free for the next caller.
    /// False when nobody holds it.
    /// </summary>
    /// <exception cref="ArgumentException">The provider has a key prefix and <paramref name="key"/> is not under it.</exception>
    public bool Lose(string key)
    {
        CheckFullKey(key);
        Handle? handle;
        lock (_held)
        {
            _held.TryGetValue(key, out handle);
        }

        return handle is not null && handle.End(lost: true);
    }

    /// <inheritdoc />
    public ValueTask<IConsulLockHandle> AcquireAsync(string key, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        // Not an async method: the flow's held-key marker must be set in the caller's flow, before any await.
        var acquiring = TryAcquireAsync(key, Timeout.InfiniteTimeSpan, request, cancellationToken);
        return WithoutTimeoutAsync(acquiring);

        static async ValueTask<IConsulLockHandle> WithoutTimeoutAsync(ValueTask<IConsulLockHandle?> acquiring) =>
            await acquiring.ConfigureAwait(false) ?? throw new InvalidOperationException("An acquire without a timeout ended without the lock.");
    }

    /// <inheritdoc />
    public ValueTask<IConsulLockHandle?> TryAcquireAsync(string key, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout cannot be negative (TimeSpan.Zero tries once).");
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var fullKey = FullKey(key);
        LockKey.Validate(fullKey);
        _ = SessionSettings.From(request, _options);
        _ = HoldLimits.From(request);
        var marker = FlowLocks.Enter(this, fullKey);
        return AcquireCoreAsync(fullKey, timeout, marker, cancellationToken);
    }

    /// <summary>Makes every lock still held lost, as disposing a <see cref="ConsulLockProvider"/> ends its sessions.</summary>
    public ValueTask DisposeAsync()
    {
        Handle[] held;
        lock (_held)
        {
            _disposed = true;
            held = [.. _held.Values];
        }

        foreach (var handle in held)
        {
            handle.End(lost: true);
        }

        return default;
    }

    /// <inheritdoc />
    string IKeyFolderProvider.FullKey(string key) => FullKey(key);

    private string FullKey(string key) => KeyFolder.Join(_options.KeyPrefix, key);

    // Every key this provider holds is under its folder, so a key that is not was written without the prefix: say so,
    // rather than answer "not held" about a key the provider would never use.
    private void CheckFullKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var folder = FullKey("");
        if (!key.StartsWith(folder, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"'{key}' is not under this provider's key prefix '{_options.KeyPrefix}'; IsHeld and Lose take the full key, " +
                $"as HeldKeys and IConsulLockHandle.Key name it: '{FullKey(key)}'.",
                nameof(key));
        }
    }

    private async ValueTask<IConsulLockHandle?> AcquireCoreAsync(string fullKey, TimeSpan timeout, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        Handle? handle = null;
        var entered = false;
        try
        {
            entered = await _gates.EnterAsync(fullKey, timeout, cancellationToken).ConfigureAwait(false);
            if (!entered)
            {
                return null;
            }

            var granted = new Handle(this, fullKey, (ulong)Interlocked.Increment(ref _lastToken), marker);
            lock (_held)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _held.Add(fullKey, granted);
            }

            handle = granted;
            return handle;
        }
        finally
        {
            if (handle is null)
            {
                if (entered)
                {
                    _gates.Exit(fullKey);
                }

                marker.Exit();
            }
        }
    }

    private sealed class Handle(InMemoryConsulLockProvider provider, string key, ulong fencingToken, FlowLocks.Marker marker) : IConsulLockHandle
    {
        private readonly CancellationTokenSource _lost = new();
        private int _ended;

        public string Key { get; } = key;

        public CancellationToken LostToken => _lost.Token;

        public ulong FencingToken { get; } = fencingToken;

        public string SessionId { get; } = "in-memory-" + fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);

        public ValueTask DisposeAsync()
        {
            End(lost: false);
            marker.Exit();
            return default;
        }

        /// <summary>
        /// Frees the key once: on release, or when the lock is made lost (then the lost-token fires). The flow counts
        /// as holding the key until the handle is disposed, as with <see cref="ConsulLockProvider"/>.
        /// </summary>
        public bool End(bool lost)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0)
            {
                return false;
            }

            lock (provider._held)
            {
                provider._held.Remove(Key);
            }

            provider._gates.Exit(Key);
            if (lost)
            {
                _lost.Cancel();
            }

            return true;
        }
    }
}
