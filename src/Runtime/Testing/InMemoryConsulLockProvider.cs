using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Engine;

namespace ConsulLock.Aop.Testing;

/// <summary>
/// An <see cref="IConsulLockProvider"/> that keeps its locks in this process's memory, for the unit tests of code that
/// takes locks (<c>[ConsulLocked]</c> methods included): no Consul, no network, and no real waiting when it is given a
/// fake clock. It is not a distributed lock and must never stand in for one in production.
/// </summary>
/// <remarks>
/// <para>
/// It behaves as <see cref="ConsulLockProvider"/> does where a test can tell: keys and requests are validated the same
/// way, callers of one key exclude each other, waits honour timeouts and cancellation, locks are not reentrant, and
/// fencing tokens strictly increase per provider. Keys are named as <see cref="ConsulLockProvider"/> names them: the
/// full key, <see cref="ConsulLockOptions.KeyPrefix"/> included (<see cref="HeldKeys"/>, <see cref="IsHeld"/>,
/// <see cref="Lose"/>, <see cref="IConsulLockHandle.Key"/> and every exception). <see cref="Lose"/> makes a held lock lost, as when someone destroys
/// its Consul session: the holder's <see cref="IConsulLockHandle.LostToken"/> fires and the key is free at once.
/// </para>
/// <para>
/// Holds (<see cref="ConsulLockRequest.MinHold"/>, <see cref="ConsulLockRequest.MaxHold"/>) and wait timeouts run on
/// the provider's <see cref="TimeProvider"/>: give it a fake one (<c>FakeTimeProvider</c> from
/// Microsoft.Extensions.TimeProvider.Testing) and advance it, and a test of a ten-minute hold takes no time. A key
/// released before grant + <c>MinHold</c> stays held (<see cref="IsHeld"/> is true, other callers wait) until the clock
/// reaches that time. At grant + <c>MaxHold</c> the holder's lost-token fires, a <c>[ConsulLocked]</c> body that ends
/// by cancellation gets a <see cref="ConsulLockLostException"/> whose <see cref="ConsulLockLostException.HoldLimitReached"/>
/// is true, and the key is free, whatever the holder does. A lost-token callback that throws does not stop a loss
/// report (<see cref="ConsulLockProvider"/> logs it; this provider has nowhere to).
/// </para>
/// </remarks>
public sealed partial class InMemoryConsulLockProvider : IConsulLockProvider, IAsyncDisposable, IKeyFolderProvider
{
    // A CancellationTokenSource cannot time out later than this; a longer timeout is, to a test, no timeout.
    private static readonly TimeSpan s_longestTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly ConsulLockOptions _options;
    private readonly TimeProvider _time;
    private readonly KeyGates _gates = new();
    private readonly Dictionary<string, Handle> _held = new(StringComparer.Ordinal);

    // WatchHolderAsync's subscribers by full key, told of every grant and free under the lock of _held, in order.
    private readonly Dictionary<string, List<ChannelWriter<ConsulLockHolder?>>> _holderWatchers = new(StringComparer.Ordinal);

    // Ends every pending wait when the provider is disposed. Never disposed: waits may still read its token after.
    private readonly CancellationTokenSource _disposing = new();
    private long _lastToken;
    private bool _disposed;

    /// <summary>Creates a provider with the default options and no key prefix, on the system clock.</summary>
    public InMemoryConsulLockProvider()
        : this(new ConsulLockOptions())
    {
    }

    /// <summary>Creates a provider that applies <paramref name="options"/>' key prefix and lock defaults, on the system clock.</summary>
    /// <exception cref="ArgumentException">An option is invalid, as <see cref="ConsulLockProvider"/> would say.</exception>
    public InMemoryConsulLockProvider(ConsulLockOptions options)
        : this(options, TimeProvider.System)
    {
    }

    /// <summary>
    /// Creates a provider with the default options whose holds and wait timeouts run on <paramref name="timeProvider"/>
    /// (a fake clock in a test).
    /// </summary>
    public InMemoryConsulLockProvider(TimeProvider timeProvider)
        : this(new ConsulLockOptions(), timeProvider)
    {
    }

    /// <summary>
    /// Creates a provider that applies <paramref name="options"/>' key prefix and lock defaults, and whose holds and wait
    /// timeouts run on <paramref name="timeProvider"/> (a fake clock in a test).
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid, as <see cref="ConsulLockProvider"/> would say.</exception>
    public InMemoryConsulLockProvider(ConsulLockOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _options = options.Clone();
        _options.Validate();
        _time = timeProvider;
    }

    /// <summary>The full keys (prefix included) held now, by a holder or by a minimum hold that is not over.</summary>
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
    /// <see cref="IConsulLockHandle.Key"/>) is held now: by a holder, or by a minimum hold that is not over.
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
    /// as when its Consul session is destroyed: the holder's lost-token fires (the reason it reports is "made lost by
    /// the test") and the key is free for the next caller, also when it was kept for a minimum hold. False when nobody
    /// holds it.
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

        if (handle is null)
        {
            return false;
        }

        handle.Lose("made lost by the test", holdLimitReached: false);
        return handle.FreeKey();
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
    /// <remarks>The timeout runs on the provider's <see cref="TimeProvider"/>.</remarks>
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
        var holds = HoldLimits.From(request);
        var marker = FlowLocks.Enter(this, fullKey);
        return AcquireCoreAsync(fullKey, timeout, holds, marker, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The holder is this provider: <see cref="ConsulLockOptions.InstanceName"/>, the handle's session id, the machine's
    /// name as its node, the grant time on the provider's clock; <c>Waiters</c> counts the callers waiting for the key.
    /// </remarks>
    public ValueTask<ConsulLockHolder?> GetHolderAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = PrepareKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_held)
        {
            return new(HolderOf(fullKey));
        }
    }

    /// <inheritdoc />
    /// <remarks>Every grant and release of the key is reported, in order; the enumeration ends with <see cref="ObjectDisposedException"/> when the provider is disposed.</remarks>
    public IAsyncEnumerable<ConsulLockHolder?> WatchHolderAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = PrepareKey(key);
        var changes = Channel.CreateUnbounded<ConsulLockHolder?>(new UnboundedChannelOptions { SingleReader = true });
        lock (_held)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            changes.Writer.TryWrite(HolderOf(fullKey));
            if (!_holderWatchers.TryGetValue(fullKey, out var watchers))
            {
                _holderWatchers[fullKey] = watchers = [];
            }

            watchers.Add(changes.Writer);
        }

        return WatchCoreAsync(fullKey, changes, cancellationToken);
    }

    private async IAsyncEnumerable<ConsulLockHolder?> WatchCoreAsync(
        string fullKey, Channel<ConsulLockHolder?> changes, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var holder in changes.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return holder;
            }
        }
        finally
        {
            lock (_held)
            {
                if (_holderWatchers.TryGetValue(fullKey, out var watchers) && watchers.Remove(changes.Writer) && watchers.Count == 0)
                {
                    _holderWatchers.Remove(fullKey);
                }
            }
        }
    }

    // Under the lock of _held.
    private ConsulLockHolder? HolderOf(string fullKey) =>
        _held.TryGetValue(fullKey, out var handle) ? handle.Holder with { Waiters = _gates.WaiterCount(fullKey) } : null;

    // Under the lock of _held: tells the key's watchers its new holder (null: free).
    private void HolderChanged(string fullKey)
    {
        if (_holderWatchers.TryGetValue(fullKey, out var watchers))
        {
            var holder = HolderOf(fullKey);
            foreach (var watcher in watchers)
            {
                watcher.TryWrite(holder);
            }
        }
    }

    private string PrepareKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var fullKey = FullKey(key);
        LockKey.Validate(fullKey);
        return fullKey;
    }

    /// <inheritdoc />
    /// <remarks>The pause after a loss (at most the lock-delay) runs on the provider's <see cref="TimeProvider"/>.</remarks>
    public Task LeadAsync(string key, Func<ConsulLockContext, CancellationToken, Task> lead, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var lockDelay = SessionSettings.From(request, _options).LockDelay;
        return LeaderCampaign.RunAsync(this, key, lead, request, lockDelay, _time, logger: null, campaigns: null, cancellationToken);
    }

    /// <summary>
    /// Makes every lock still held lost and ends every pending wait (with <see cref="ObjectDisposedException"/>), as
    /// disposing a <see cref="ConsulLockProvider"/> does. As there, a minimum hold outlives the provider: its key stays
    /// held until the clock reaches grant + <c>MinHold</c>.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        Handle[] held;
        lock (_held)
        {
            if (_disposed)
            {
                return default;
            }

            _disposed = true;
            held = [.. _held.Values];
            var ended = new ObjectDisposedException(nameof(InMemoryConsulLockProvider), "The lock provider was disposed while the holder was watched.");
            foreach (var watcher in _holderWatchers.Values.SelectMany(w => w))
            {
                watcher.TryComplete(ended);
            }

            _holderWatchers.Clear();
        }

        _disposing.Cancel();
        LoseAllPermits();
        foreach (var handle in held)
        {
            handle.Lose("the lock provider was disposed", holdLimitReached: false);
            handle.Release();
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

    private async ValueTask<IConsulLockHandle?> AcquireCoreAsync(
        string fullKey, TimeSpan timeout, HoldLimits holds, FlowLocks.Marker marker, CancellationToken cancellationToken)
    {
        Handle? handle = null;
        var entered = false;
        try
        {
            entered = await EnterGateAsync(fullKey, timeout, cancellationToken).ConfigureAwait(false);
            if (!entered)
            {
                return null;
            }

            var granted = new Handle(this, fullKey, (ulong)Interlocked.Increment(ref _lastToken), marker, holds, HolderDocument.TraceParentOf(Activity.Current));
            lock (_held)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _held.Add(fullKey, granted);
                HolderChanged(fullKey);
            }

            handle = granted;
            handle.StartHoldLimit();
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

    /// <summary>
    /// Waits for the key's gate on the provider's clock, so that a timeout under a fake clock passes when the test
    /// advances it, not in real time. False at the timeout.
    /// </summary>
    private async ValueTask<bool> EnterGateAsync(string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = timeout > TimeSpan.Zero && timeout <= s_longestTimeout ? new CancellationTokenSource(timeout, _time) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token, deadline?.Token ?? CancellationToken.None);
        try
        {
            return await _gates.EnterAsync(key, timeout == TimeSpan.Zero ? TimeSpan.Zero : Timeout.InfiniteTimeSpan, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return _disposing.IsCancellationRequested
                ? throw new ObjectDisposedException(nameof(InMemoryConsulLockProvider), "The lock provider was disposed while the acquire waited.")
                : false;
        }
    }

    /// <summary>
    /// A granted lock. The holder lets go by disposing it; the key is free then, or at the end of its minimum hold
    /// when that is later. The lock is lost (the lost-token fires) when the test says so, at its hold limit, or when
    /// the provider is disposed; at the hold limit it also lets go by itself, as the engine's handle does.
    /// </summary>
    private sealed class Handle(InMemoryConsulLockProvider provider, string key, ulong fencingToken, FlowLocks.Marker marker, HoldLimits holds, string? traceParent)
        : IConsulLockHandle, ILossReport
    {
        private readonly CancellationTokenSource _lost = new();
        private readonly long _grantedAt = provider._time.GetTimestamp();
        private readonly object _sync = new();
        private ITimer? _holdLimit;
        private ITimer? _holdEnd;
        private string? _lostReason;
        private bool _holdLimitReached;
        private bool _disposed;
        private bool _released;
        private bool _freed;

        public string Key { get; } = key;

        public CancellationToken LostToken => _lost.Token;

        public ulong FencingToken { get; } = fencingToken;

        public string SessionId { get; } = "in-memory-" + fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>The holder as <see cref="GetHolderAsync"/> reports it, waiters aside.</summary>
        public ConsulLockHolder Holder { get; } = new(
            key, provider._options.InstanceName, "in-memory-" + fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Environment.MachineName, provider._time.GetUtcNow(), fencingToken, traceParent, 0);

        public string? LostReason
        {
            get
            {
                lock (_sync)
                {
                    return _lostReason;
                }
            }
        }

        public bool HoldLimitReached
        {
            get
            {
                lock (_sync)
                {
                    return _holdLimitReached;
                }
            }
        }

        /// <summary>Starts the clock of the hold limit, once the handle is registered as the key's holder.</summary>
        public void StartHoldLimit()
        {
            if (holds.MaxHold is not { } limit)
            {
                return;
            }

            var timer = provider._time.CreateTimer(static state => ((Handle)state!).ReachHoldLimit(), this, limit, Timeout.InfiniteTimeSpan);
            lock (_sync)
            {
                if (!_disposed && !_freed)
                {
                    _holdLimit = timer;
                    return;
                }
            }

            timer.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            LetGo();
            return default;
        }

        /// <summary>The holder lets go (once). The flow no longer counts as holding the key, as with the engine.</summary>
        private void LetGo()
        {
            ITimer? holdLimit;
            lock (_sync)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                (holdLimit, _holdLimit) = (_holdLimit, null);
            }

            holdLimit?.Dispose();
            marker.Exit();
            Release();
        }

        /// <summary>Reports the loss once, unless the holder let go already (a loss seen after that is not reported).</summary>
        public void Lose(string reason, bool holdLimitReached)
        {
            lock (_sync)
            {
                if (_disposed || _lostReason is not null)
                {
                    return;
                }

                _lostReason = reason;
                _holdLimitReached = holdLimitReached;
            }

            try
            {
                _lost.Cancel();
            }
            catch (AggregateException)
            {
                // A holder's callback failed; as the engine does, the loss stands and the key is freed all the same.
            }
        }

        /// <summary>Lets go of the key: at once, or when the clock reaches grant + MinHold if that is later.</summary>
        public void Release()
        {
            lock (_sync)
            {
                if (_released || _freed)
                {
                    return;
                }

                _released = true;
                var left = holds.MinHold - provider._time.GetElapsedTime(_grantedAt);
                if (left > TimeSpan.Zero)
                {
                    _holdEnd = provider._time.CreateTimer(static state => ((Handle)state!).FreeKey(), this, left, Timeout.InfiniteTimeSpan);
                    return;
                }
            }

            FreeKey();
        }

        /// <summary>Frees the key for the next caller, once; false when it was free already.</summary>
        public bool FreeKey()
        {
            ITimer? holdLimit;
            ITimer? holdEnd;
            lock (_sync)
            {
                if (_freed)
                {
                    return false;
                }

                _freed = true;
                (holdLimit, _holdLimit) = (_holdLimit, null);
                (holdEnd, _holdEnd) = (_holdEnd, null);
            }

            holdLimit?.Dispose();
            holdEnd?.Dispose();
            lock (provider._held)
            {
                if (provider._held.TryGetValue(Key, out var holder) && ReferenceEquals(holder, this))
                {
                    provider._held.Remove(Key);
                    provider.HolderChanged(Key);
                }
            }

            provider._gates.Exit(Key);
            return true;
        }

        private void ReachHoldLimit()
        {
            Lose($"the hold limit was reached (MaxHold {ConsulDuration.Format(holds.MaxHold!.Value)} after the grant)", holdLimitReached: true);

            // Whatever the holder does, the key is let go now, as the engine's handle lets go at its hold limit.
            LetGo();
        }
    }
}
