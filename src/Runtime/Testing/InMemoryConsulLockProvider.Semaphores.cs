using ConsulLock.Aop.Engine;

namespace ConsulLock.Aop.Testing;

/// <summary>Semaphores in memory: at most the limit of permits per prefix at once, waits on the provider's clock.</summary>
public sealed partial class InMemoryConsulLockProvider
{
    private readonly Dictionary<string, InMemorySemaphore> _semaphores = new(StringComparer.Ordinal);

    /// <summary>The prefix of every semaphore permit held now, once per permit (full keys, as <see cref="HeldKeys"/>).</summary>
    public IReadOnlyCollection<string> HeldPermits
    {
        get
        {
            lock (_held)
            {
                return [.. _semaphores.SelectMany(s => { lock (s.Value) { return s.Value.Held.Select(p => p.Key).ToArray(); } })];
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<IConsulLockHandle> AcquireSemaphoreAsync(string prefix, int limit, ConsulLockRequest? request = null, CancellationToken cancellationToken = default) =>
        await TryAcquireSemaphoreAsync(prefix, limit, Timeout.InfiniteTimeSpan, request, cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidOperationException("An acquire without a timeout ended without a permit.");

    /// <inheritdoc />
    /// <remarks>The timeout runs on the provider's <see cref="TimeProvider"/>.</remarks>
    public async ValueTask<IConsulLockHandle?> TryAcquireSemaphoreAsync(
        string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout cannot be negative (TimeSpan.Zero tries once).");
        }

        if (request is { MinHold: not null } or { MaxHold: not null })
        {
            throw new ArgumentException("MinHold and MaxHold apply to locks, not to semaphore permits.", nameof(request));
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var fullPrefix = FullKey(prefix);
        LockKey.Validate(fullPrefix);
        _ = SessionSettings.From(request, _options);
        InMemorySemaphore semaphore;
        lock (_held)
        {
            if (_held.ContainsKey(SemaphoreLayout.LockKey(fullPrefix)))
            {
                throw new ConsulLockConflictException($"The prefix '{fullPrefix}' is used as a lock: its key '{SemaphoreLayout.LockKey(fullPrefix)}' is held as a lock, so it cannot be a semaphore of limit {limit}.", fullPrefix);
            }

            if (!_semaphores.TryGetValue(fullPrefix, out semaphore!))
            {
                _semaphores[fullPrefix] = semaphore = new InMemorySemaphore(limit);
            }
            else if (semaphore.Limit != limit)
            {
                throw new ConsulLockConflictException(
                    $"The semaphore '{fullPrefix}' has limit {semaphore.Limit}, and this caller asked for limit {limit}: every holder of a semaphore must use the same limit.", fullPrefix);
            }
        }

        using var deadline = timeout > TimeSpan.Zero && timeout <= s_longestTimeout ? new CancellationTokenSource(timeout, _time) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token, deadline?.Token ?? CancellationToken.None);
        try
        {
            if (!await semaphore.Slots.WaitAsync(timeout == TimeSpan.Zero ? TimeSpan.Zero : Timeout.InfiniteTimeSpan, linked.Token).ConfigureAwait(false))
            {
                return null;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return _disposing.IsCancellationRequested
                ? throw new ObjectDisposedException(nameof(InMemoryConsulLockProvider), "The lock provider was disposed while the acquire waited.")
                : null;
        }

        var permit = new Permit(semaphore, fullPrefix, (ulong)Interlocked.Increment(ref _lastToken));
        lock (semaphore)
        {
            semaphore.Held.Add(permit);
        }

        if (Volatile.Read(ref _disposed))
        {
            permit.Lose("the lock provider was disposed");
            await permit.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(InMemoryConsulLockProvider), "The lock provider was disposed while the acquire waited.");
        }

        return permit;
    }

    /// <summary>Makes every permit still held lost (the provider is being disposed).</summary>
    private void LoseAllPermits()
    {
        InMemorySemaphore[] semaphores;
        lock (_held)
        {
            semaphores = [.. _semaphores.Values];
        }

        foreach (var semaphore in semaphores)
        {
            Permit[] held;
            lock (semaphore)
            {
                held = [.. semaphore.Held];
            }

            foreach (var permit in held)
            {
                permit.Lose("the lock provider was disposed");
            }
        }
    }

    private sealed class InMemorySemaphore(int limit)
    {
        public int Limit { get; } = limit;

        public SemaphoreSlim Slots { get; } = new(limit, limit);

        public HashSet<Permit> Held { get; } = [];
    }

    private sealed class Permit(InMemorySemaphore semaphore, string prefix, ulong fencingToken) : IConsulLockHandle, ILossReport
    {
        private readonly CancellationTokenSource _lost = new();
        private string? _lostReason;
        private int _disposed;

        public string Key { get; } = prefix;

        public CancellationToken LostToken => _lost.Token;

        public ulong FencingToken { get; } = fencingToken;

        public string SessionId { get; } = "in-memory-" + fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);

        public string? LostReason => Volatile.Read(ref _lostReason);

        public bool HoldLimitReached => false;

        public void Lose(string reason)
        {
            if (Interlocked.CompareExchange(ref _lostReason, reason, null) is null)
            {
                try
                {
                    _lost.Cancel();
                }
                catch (AggregateException)
                {
                    // A callback that throws does not stop the report (the engine logs it; this provider has nowhere to).
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                lock (semaphore)
                {
                    semaphore.Held.Remove(this);
                }

                semaphore.Slots.Release();
            }

            return default;
        }
    }
}
