using ConsulLock.Aop.Consul;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Hands out shared sessions: one live session per distinct <see cref="SessionSettings"/>. A session with no lock
/// left is destroyed after <see cref="ConsulLockOptions.SessionIdleTimeout"/> (so a caller that locks again soon
/// reuses it), a lost one at once, and all of them when the provider is disposed. A create whose answer was lost
/// leaves a clean-up behind (find the session by its attempt's name, destroy it); disposal waits for those too.
/// </summary>
internal sealed class SessionPool : IAsyncDisposable
{
    private readonly object _sync = new();
    private readonly Dictionary<SessionSettings, LockSession> _current = [];
    private readonly HashSet<LockSession> _alive = [];
    private readonly BackgroundWork _endings;
    private readonly SemaphoreSlim _creating = new(1, 1);
    private readonly CancellationTokenSource _disposing = new();
    private readonly ConsulLockOptions _options;
    private readonly ConsulClient _client;
    private readonly ILogger _logger;
    private bool _disposed;

    public SessionPool(ConsulLockOptions options, ConsulClient client, ILogger logger)
    {
        _options = options;
        _client = client;
        _logger = logger;
        _endings = new BackgroundWork(logger);
    }

    /// <summary>Ids of the sessions this pool has not ended yet.</summary>
    public IReadOnlyCollection<string> SessionIds
    {
        get
        {
            lock (_sync)
            {
                return _alive.Select(s => s.Id).ToArray();
            }
        }
    }

    /// <summary>Session endings (and clean-ups of creates in doubt) still running; stays small however many locks come and go.</summary>
    internal int TrackedEndings => _endings.Count;

    /// <summary>How recently each live session had a renewal acknowledged; for health checks.</summary>
    internal IReadOnlyList<SessionHealth> Health()
    {
        lock (_sync)
        {
            return _alive.Select(s => new SessionHealth(s.Id, s.SinceLastAcknowledged, s.Settings.Ttl)).ToArray();
        }
    }

    public async ValueTask<LockSession> RentAsync(SessionSettings settings, CancellationToken cancellationToken)
    {
        if (TryRent(settings) is { } existing)
        {
            return existing;
        }

        return await CreateAsync(settings, shared: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A session of its own, that no other holder shares: for a holder that must show in Consul as a contender of its
    /// own (a semaphore permit: Consul's layout counts sessions, so two permits on one session would merge into one).
    /// Returned, it ends at once.
    /// </summary>
    public ValueTask<LockSession> RentOwnAsync(SessionSettings settings, CancellationToken cancellationToken) =>
        CreateAsync(settings, shared: false, cancellationToken);

    private async ValueTask<LockSession> CreateAsync(SessionSettings settings, bool shared, CancellationToken cancellationToken)
    {
        // One create at a time: disposal waits on this gate, after which no create starts and every create in doubt
        // has handed its clean-up over.
        await _creating.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (shared && TryRent(settings) is { } raced)
            {
                return raced;
            }

            var created = await SessionCreation.CreateAsync(
                settings, _options, _client, _logger, OnLost, t => _endings.Track(t), _disposing.Token, cancellationToken).ConfigureAwait(false);
            lock (_sync)
            {
                if (!_disposed)
                {
                    created.Rentals = 1;
                    created.IsShared = shared;
                    if (shared)
                    {
                        _current[settings] = created;
                    }

                    _alive.Add(created);
                    return created;
                }
            }

            await created.EndAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(ConsulLockProvider));
        }
        finally
        {
            _creating.Release();
        }
    }

    public void Return(LockSession session)
    {
        lock (_sync)
        {
            if (--session.Rentals > 0)
            {
                return;
            }

            if (session.IsShared && !session.IsLost && !session.IsRetired && !_disposed)
            {
                // One timer per session, pushed back on every return: a busy loop of locks costs no allocation, and
                // the session ends once no lock has used it for the idle timeout.
                session.IdleTimer ??= new Timer(
                    static state => ((IdleSession)state!).Fire(), new IdleSession(this, session), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                session.IdleTimer.Change(_options.SessionIdleTimeout, Timeout.InfiniteTimeSpan);
                return;
            }

            Forget(session);
        }

        EndInBackground(session);
    }

    /// <summary>Tests only: declares the session <paramref name="sessionId"/> untrusted, as a renewal gap of one TTL would.</summary>
    internal void MarkUntrusted(string sessionId)
    {
        lock (_sync)
        {
            _alive.Single(s => s.Id == sessionId).MarkUntrusted("declared lost by a test");
        }
    }

    /// <summary>Whether a live session with these settings can be rented without a request to Consul.</summary>
    public bool HasLive(SessionSettings settings)
    {
        lock (_sync)
        {
            return _current.TryGetValue(settings, out var session) && !session.IsLost && !session.IsRetired;
        }
    }

    /// <summary>A release was refused for good, so the session may still hold that key: hand it out no more, end it when unused.</summary>
    public void Retire(LockSession session)
    {
        lock (_sync)
        {
            session.IsRetired = true;
            if (_current.TryGetValue(session.Settings, out var current) && current == session)
            {
                _current.Remove(session.Settings);
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="sessionId"/> is one of this pool's sessions that Consul may still know. Inside a key's
    /// gate no handle of this process holds the key, so a key held by such a session is an orphan of ours (an acquire
    /// whose answer never came) that may be unlocked.
    /// </summary>
    public bool IsOurs(string sessionId)
    {
        lock (_sync)
        {
            foreach (var session in _alive)
            {
                if (session.Id == sessionId)
                {
                    return !session.IsGone;
                }
            }

            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        LockSession[] alive;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _disposing.Cancel();
            alive = [.. _alive];
            foreach (var session in alive)
            {
                session.IdleTimer?.Dispose();
            }

            _alive.Clear();
            _current.Clear();
        }

        await Task.WhenAll(alive.Select(s => s.EndAsync())).ConfigureAwait(false);

        // A create still out hands its clean-up over before it lets go of the gate; after it, no create starts.
        await _creating.WaitAsync().ConfigureAwait(false);
        _creating.Release();
        await _endings.WhenDoneAsync(Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        _creating.Dispose();
        _disposing.Dispose();
    }

    private LockSession? TryRent(SessionSettings settings)
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(ConsulLockProvider));
            if (_current.TryGetValue(settings, out var session) && !session.IsLost && !session.IsRetired)
            {
                session.Rentals++;
                return session;
            }

            return null;
        }
    }

    /// <summary>The idle timer fired: end the session unless a lock has used it since.</summary>
    private void OnIdle(LockSession session)
    {
        lock (_sync)
        {
            if (session.Rentals > 0 || !_alive.Contains(session))
            {
                return;
            }

            Forget(session);
        }

        EndInBackground(session);
    }

    private void OnLost(LockSession session)
    {
        lock (_sync)
        {
            if (_current.TryGetValue(session.Settings, out var current) && current == session)
            {
                _current.Remove(session.Settings);
            }

            if (session.Rentals > 0 || !_alive.Contains(session))
            {
                return;
            }

            Forget(session);
        }

        EndInBackground(session);
    }

    private void Forget(LockSession session)
    {
        session.IdleTimer?.Dispose();
        _alive.Remove(session);
        if (_current.TryGetValue(session.Settings, out var current) && current == session)
        {
            _current.Remove(session.Settings);
        }
    }

    private void EndInBackground(LockSession session) => _endings.Track(session.EndAsync());

    private sealed class IdleSession(SessionPool pool, LockSession session)
    {
        public void Fire() => pool.OnIdle(session);
    }
}
