using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// One Consul session shared by the locks whose settings are equal. It renews itself at TTL/2 and declares itself
/// lost when Consul says it is gone, or when no renewal has been acknowledged for one TTL on a monotonic clock: Consul
/// waits up to twice the TTL before it invalidates a silent session, so the holders stop before anyone else can be
/// granted their keys. A failed renewal is retried at once on a fresh connection; the first attempt waits TTL/8, each
/// retry twice as long as the one before (within what is left of the TTL), so one hung connection costs a fraction of
/// the TTL and a slow Consul (answers seconds late) still gets its renewals through.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification =
    "The lost-token must stay usable for handles that outlive the session; EndAsync stops the loop and the timers are gone then.")]
internal sealed class LockSession
{
    private readonly ConsulClient _client;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private long _lastAcknowledged;
    private Task _renewLoop = Task.CompletedTask;
    private string? _lostReason;
    private volatile bool _gone;

    private LockSession(string id, SessionSettings settings, long createdAt, ConsulClient client, ILogger logger)
    {
        Id = id;
        Settings = settings;
        _lastAcknowledged = createdAt;
        _client = client;
        _logger = logger;
        LostToken = _lost.Token;
    }

    public string Id { get; }

    public SessionSettings Settings { get; }

    /// <summary>Fires when the session is gone or can no longer be trusted to be alive.</summary>
    public CancellationToken LostToken { get; }

    public string LostReason => _lostReason ?? "the session ended";

    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>
    /// Known to hold nothing in Consul any more: Consul said it does not know it, or it was destroyed. A session that
    /// is only lost (no renewal acknowledged) may still exist and hold keys, so its keys must still be released.
    /// </summary>
    public bool IsGone => _gone;

    /// <summary>Time since Consul last acknowledged a renewal (or the creation).</summary>
    public TimeSpan SinceLastAcknowledged => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAcknowledged));

    /// <summary>Locks and acquires currently using the session; guarded by the owning <see cref="SessionPool"/>.</summary>
    internal int Rentals { get; set; }

    /// <summary>Set when a release was refused for good: the session may still hold that key, so it takes no new locks.</summary>
    internal bool IsRetired { get; set; }

    /// <summary>Ends the session once it has been idle for the idle timeout; owned by the <see cref="SessionPool"/>.</summary>
    internal Timer? IdleTimer { get; set; }

    /// <summary>
    /// Creates a session. Each attempt carries a name of its own (<see cref="ConsulLockOptions.SessionName"/> and a
    /// short attempt id, <c>ConsulLock.Aop #1a2b3c4d</c>), so that when its answer is lost (a timeout, a reset, an
    /// agent that restarts) while Consul may have created it, the session can be found by that name and destroyed
    /// instead of living, renewed by nobody, until its TTL ends it (up to 2 x TTL). That clean-up runs in the
    /// background and is handed to <paramref name="trackInDoubt"/> so that disposal waits for it. A caller that gives
    /// up while the request is out does not cut it short: it finishes (within the request timeout) and whatever it
    /// made is destroyed.
    /// </summary>
    public static async Task<LockSession> CreateAsync(
        SessionSettings settings, ConsulLockOptions options, ConsulClient client, ILogger logger, Action<LockSession> onLost,
        Action<Task> trackInDoubt, CancellationToken disposing, CancellationToken cancellationToken)
    {
        var name = AttemptName(options.SessionName);
        var createdAt = Stopwatch.GetTimestamp();
        var create = client.CreateSessionAsync(
            new SessionCreateRequest
            {
                Name = name,
                TTL = ConsulDuration.Format(settings.Ttl),
                LockDelay = ConsulDuration.Format(settings.LockDelay),
                Behavior = settings.Behavior == SessionBehavior.Delete ? "delete" : "release",
                Checks = [.. options.SessionChecks],
            },
            CancellationToken.None);
        string id;
        try
        {
            id = await create.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            trackInDoubt(EndAbandonedCreateAsync(create, name, settings, createdAt, client, logger, disposing));
            throw;
        }
        catch (Exception ex) when (MayHaveCreated(ex))
        {
            s_createInDoubt(logger, name, ex);
            trackInDoubt(FindAndDestroyAsync(name, null, settings, createdAt, client, logger, disposing));
            throw;
        }

        var session = new LockSession(id, settings, createdAt, client, logger);
        Log.SessionCreated(logger, id, settings.Ttl, settings.LockDelay, settings.Behavior);
        session._renewLoop = session.RenewLoopAsync(onLost);
        return session;
    }

    /// <summary>The name of one create attempt: the configured name, readable to operators, and a short id of its own.</summary>
    internal static string AttemptName(string sessionName) =>
        sessionName + " #" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Whether a failed create may still have made a session: unless Consul answered with a refusal (4xx).</summary>
    private static bool MayHaveCreated(Exception exception) =>
        exception is not ConsulLockException { StatusCode: >= 400 and < 500 };

    /// <summary>A create the caller stopped waiting for: let it finish, then destroy what it made.</summary>
    private static async Task EndAbandonedCreateAsync(
        Task<string> create, string name, SessionSettings settings, long attemptAt, ConsulClient client, ILogger logger, CancellationToken disposing)
    {
        string? id = null;
        try
        {
            id = await create.ConfigureAwait(false);
        }
        catch (Exception ex) when (MayHaveCreated(ex))
        {
            s_createInDoubt(logger, name, ex);
        }
        catch (ConsulLockException)
        {
            // Consul refused it: nothing was made.
            return;
        }

        await FindAndDestroyAsync(name, id, settings, attemptAt, client, logger, disposing).ConfigureAwait(false);
    }

    /// <summary>
    /// Destroys the session <paramref name="knownId"/>, or the one named <paramref name="name"/> if Consul made it.
    /// A session found is destroyed and that is the end of it (one attempt makes at most one session). Not found is
    /// believed only once Consul has answered looks for one request timeout: a create still on its way (held in a
    /// buffer, or forwarded to a server during an election) may land a few seconds after its sender gave up. Gives
    /// up (with a warning) when Consul must have ended the session by itself (2 x TTL after the attempt, plus the
    /// request timeouts), or two request timeouts after disposal began.
    /// </summary>
    private static async Task FindAndDestroyAsync(
        string name, string? knownId, SessionSettings settings, long attemptAt, ConsulClient client, ILogger logger, CancellationToken disposing)
    {
        var timeout = client.RequestTimeout;
        var giveUpAt = attemptAt + TicksOf(settings.Ttl * 2 + timeout * 2);
        var disposalSeen = false;
        long? firstAnswerAt = null;
        var backoff = new Backoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));
        Exception? last = null;
        while (true)
        {
            var lookAt = Stopwatch.GetTimestamp();
            if (!disposalSeen && disposing.IsCancellationRequested)
            {
                disposalSeen = true;
                giveUpAt = Math.Min(giveUpAt, lookAt + TicksOf(timeout * 2));
            }

            if (lookAt > giveUpAt)
            {
                s_inDoubtGaveUp(logger, name, last);
                return;
            }

            try
            {
                IReadOnlyList<string> found = knownId is not null
                    ? [knownId]
                    : [.. (await client.ListSessionsNamedAsync(name, CancellationToken.None).ConfigureAwait(false)).Select(s => s.ID)];
                firstAnswerAt ??= lookAt;
                foreach (var id in found)
                {
                    await client.DestroySessionAsync(id, CancellationToken.None).ConfigureAwait(false);
                    s_inDoubtDestroyed(logger, id, name, null);
                }

                if (found.Count > 0 || lookAt - firstAnswerAt.Value >= TicksOf(timeout))
                {
                    return;
                }
            }
            catch (ConsulLockException ex) when (!ConsulClient.IsTransient(ex) && ex.StatusCode is not null)
            {
                // Refused (an ACL token without session read or write): Consul ends the session within 2 x TTL.
                s_inDoubtGaveUp(logger, name, ex);
                return;
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                // No answer, 5xx, or whatever the transport threw: Consul is not back yet.
                last = ex;
            }
            catch (ObjectDisposedException ex)
            {
                s_inDoubtGaveUp(logger, name, ex);
                return;
            }

            await Task.Delay(backoff.Next(), CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static long TicksOf(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static readonly Action<ILogger, string, Exception?> s_createInDoubt = LoggerMessage.Define<string>(
        LogLevel.Debug, new EventId(201, "SessionCreateInDoubt"),
        "The answer to creating session '{SessionName}' was lost; Consul may have made it: looking for it to destroy it.");

    private static readonly Action<ILogger, string, string, Exception?> s_inDoubtDestroyed = LoggerMessage.Define<string, string>(
        LogLevel.Information, new EventId(202, "SessionInDoubtDestroyed"),
        "Destroyed session {SessionId} ('{SessionName}'), made by a create whose answer was lost.");

    private static readonly Action<ILogger, string, Exception?> s_inDoubtGaveUp = LoggerMessage.Define<string>(
        LogLevel.Warning, new EventId(203, "SessionInDoubtGaveUp"),
        "Could not make sure that session '{SessionName}', whose create answer was lost, is gone; if Consul made it, it ends by its TTL (up to 2 x TTL) and holds no key.");

    /// <summary>Consul said it no longer knows the session (for example in a transaction's answer).</summary>
    public void MarkGone(string reason)
    {
        _gone = true;
        MarkLost(reason, warn: true);
    }

    /// <summary>Declares the session untrusted without Consul's word (tests: a renewal gap without waiting a TTL).</summary>
    internal void MarkUntrusted(string reason) => MarkLost(reason, warn: true);

    /// <summary>Stops renewing and destroys the session in Consul, which releases its keys; retried within the request timeout.</summary>
    public async Task EndAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _renewLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (!_gone)
        {
            await DestroyAsync().ConfigureAwait(false);
        }

        // Ended on purpose (idle, or the provider is disposed): not worth a warning, but anything still holding on learns.
        MarkLost("the session was ended", warn: false);
    }

    private async Task DestroyAsync()
    {
        var started = Stopwatch.GetTimestamp();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        while (true)
        {
            var left = _client.RequestTimeout - Stopwatch.GetElapsedTime(started);
            try
            {
                using var timeout = new CancellationTokenSource(left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
                await _client.DestroySessionAsync(Id, timeout.Token).ConfigureAwait(false);
                _gone = true;
                Log.SessionDestroyed(_logger, Id);
                return;
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && left > TimeSpan.Zero)
            {
                await Task.Delay(backoff.Next(left)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ConsulLockException or OperationCanceledException)
            {
                // Consul invalidates it within two TTLs of the last renewal, which released its keys' holders already.
                Log.DestroyFailed(_logger, Id, ex);
                return;
            }
        }
    }

    private void MarkLost(string reason, bool warn)
    {
        if (Interlocked.CompareExchange(ref _lostReason, reason, null) is null)
        {
            if (warn)
            {
                Log.SessionLost(_logger, Id, reason);
            }

            _lost.Cancel();
        }
    }

    private async Task RenewLoopAsync(Action<LockSession> onLost)
    {
        await Task.Yield();
        var ttl = Settings.Ttl;
        var firstAttemptTimeout = TimeSpan.FromTicks(Math.Clamp(ttl.Ticks / 8, TimeSpan.TicksPerSecond / 2, _client.RequestTimeout.Ticks));
        var attemptTimeout = firstAttemptTimeout;
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, ttl.Ticks / 10)));
        var lastAttemptFailed = false;
        try
        {
            while (!_stop.IsCancellationRequested && !IsLost)
            {
                var sinceAck = SinceLastAcknowledged;
                var untilDeadline = ttl - sinceAck;
                if (untilDeadline <= TimeSpan.Zero)
                {
                    MarkLost($"no renewal was acknowledged for one TTL ({ttl.TotalSeconds:0.#} s)", warn: true);
                    break;
                }

                if (lastAttemptFailed)
                {
                    // Retry soon, on a fresh connection (a timed-out request's connection is closed), jittered.
                    await Task.Delay(backoff.Next(untilDeadline), _stop.Token).ConfigureAwait(false);
                }
                else if (ttl / 2 - sinceAck is var untilNext && untilNext > TimeSpan.Zero)
                {
                    await Task.Delay(untilNext, _stop.Token).ConfigureAwait(false);
                    continue;
                }

                var left = ttl - SinceLastAcknowledged;
                if (left <= TimeSpan.Zero)
                {
                    continue;
                }

                var sentAt = Stopwatch.GetTimestamp();
                try
                {
                    if (!await _client.RenewSessionAsync(Id, left < attemptTimeout ? left : attemptTimeout, _stop.Token).ConfigureAwait(false))
                    {
                        MarkGone("Consul no longer knows the session (it was destroyed or invalidated)");
                        break;
                    }

                    // Consul restarted the TTL no earlier than when the request left; count from then.
                    Volatile.Write(ref _lastAcknowledged, sentAt);
                    lastAttemptFailed = false;
                    backoff.Reset();
                    attemptTimeout = firstAttemptTimeout;
                }
                catch (ConsulLockException ex)
                {
                    Log.RenewFailed(_logger, Id, ex);
                    lastAttemptFailed = true;
                    // The next attempt goes out on a fresh connection (a hung one is closed) and may wait twice as
                    // long: a Consul that answers slowly but surely (seconds, not never) must not cost the lock.
                    attemptTimeout = attemptTimeout * 2;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return;
        }

        if (IsLost)
        {
            onLost(this);
        }
    }
}
