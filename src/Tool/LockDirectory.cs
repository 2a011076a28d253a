using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Engine;

namespace ConsulLock.Aop.Tool;

/// <summary>
/// The tool's view of the locks, on the runtime's own parts: a <see cref="ConsulLockProvider"/> (which never takes a
/// lock here, so it never creates a session) for its holder reads and watches, and its <see cref="HolderReader"/> for
/// listing a prefix and forcing a release. Keys are full Consul keys (the provider has no key prefix).
/// </summary>
internal sealed class LockDirectory : IAsyncDisposable
{
    private readonly ConsulLockProvider _provider;

    public LockDirectory(ConsulLockOptions options)
    {
        options.KeyPrefix = "";
        _provider = new ConsulLockProvider(options);
    }

    private HolderReader Reader => _provider.Engine.Holders.Reader;

    /// <summary>The holder of <paramref name="key"/> now, null when free; transient failures retried for one request timeout.</summary>
    public async Task<ConsulLockHolder?> GetAsync(string key, CancellationToken cancellationToken) =>
        await _provider.GetHolderAsync(key, cancellationToken).ConfigureAwait(false);

    /// <summary>Every held lock under <paramref name="prefix"/>, sorted by key.</summary>
    public Task<IReadOnlyList<ConsulLockHolder>> ListAsync(string prefix, CancellationToken cancellationToken) =>
        Reader.ListAsync(prefix, cancellationToken);

    /// <summary>The holder now, then each change, until <paramref name="cancellationToken"/> fires.</summary>
    public IAsyncEnumerable<ConsulLockHolder?> WatchAsync(string key, CancellationToken cancellationToken) =>
        _provider.WatchHolderAsync(key, cancellationToken);

    /// <summary>
    /// Destroys the session that holds <paramref name="key"/>. Returns the holder it ended (null: nobody held the key)
    /// and, when it could be read before, that holder's session (its lock-delay and behaviour).
    /// </summary>
    public async Task<(ConsulLockHolder? Ended, HolderSession? Session)> ForceReleaseAsync(string key, CancellationToken cancellationToken)
    {
        // The session's settings are read first: once destroyed, Consul forgets them.
        var before = await Reader.ReadAsync(key, cancellationToken).ConfigureAwait(false);
        if (before is null)
        {
            return (null, null);
        }

        SessionEntry? session;
        try
        {
            session = await _provider.Client.ReadSessionAsync(before.SessionId, cancellationToken).ConfigureAwait(false);
        }
        catch (ConsulLockException ex) when (ex.StatusCode == 403)
        {
            // Without 'session read' the release still works; the report says less.
            session = null;
        }

        var ended = await Reader.ForceReleaseAsync(key, cancellationToken).ConfigureAwait(false);
        return ended is not null && session is not null && session.ID == ended.SessionId
            ? (ended, new HolderSession(TimeSpan.FromTicks((long)(session.LockDelay / 100)), session.Behavior))
            : (ended, null);
    }

    public ValueTask DisposeAsync() => _provider.DisposeAsync();
}

/// <summary>What the tool tells about a holder's session: its lock-delay, and its behaviour (release or delete).</summary>
/// <param name="LockDelay">Consul's lock-delay of the session (Consul reports nanoseconds).</param>
/// <param name="Behavior">"release" or "delete": what Consul does to the session's keys when it ends.</param>
internal sealed record HolderSession(TimeSpan LockDelay, string? Behavior);
