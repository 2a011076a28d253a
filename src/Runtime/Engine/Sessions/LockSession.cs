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

    /// <summary>Why a session that Consul no longer knows was lost.</summary>
    public const string GoneReason = "Consul no longer knows the session (it was destroyed or invalidated)";

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

    /// <summary>False for a session of one holder only (<see cref="SessionPool.RentOwnAsync"/>), which ends when returned.</summary>
    internal bool IsShared { get; set; } = true;

    /// <summary>Set when a release was refused for good: the session may still hold that key, so it takes no new locks.</summary>
    internal bool IsRetired { get; set; }

    /// <summary>Ends the session once it has been idle for the idle timeout; owned by the <see cref="SessionPool"/>.</summary>
    internal Timer? IdleTimer { get; set; }

    /// <summary>Starts the life of a session Consul just created (see <see cref="SessionCreation"/>): renewals from now on.</summary>
    internal static LockSession Start(string id, SessionSettings settings, long createdAt, ConsulClient client, ILogger logger, Action<LockSession> onLost)
    {
        var session = new LockSession(id, settings, createdAt, client, logger);
        Log.SessionCreated(logger, id, settings.Ttl, settings.LockDelay, settings.Behavior);
        session._renewLoop = session.RenewLoopAsync(onLost);
        return session;
    }

    /// <summary>
    /// Asks Consul whether it still knows the session, within <paramref name="timeout"/>; when it does not, the session is
    /// marked gone (every holder on it learns at once). Null when Consul did not answer in time.
    /// </summary>
    public async Task<bool?> ConfirmAliveAsync(TimeSpan timeout)
    {
        try
        {
            using var limit = new CancellationTokenSource(timeout);
            if (await _client.SessionExistsAsync(Id, limit.Token).ConfigureAwait(false))
            {
                return true;
            }

            MarkGone(GoneReason);
            return false;
        }
        catch (Exception)
        {
            // Any failure (Consul failing, the client disposed with the provider) leaves the question open.
            return null;
        }
    }

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
        // Within one request timeout in all: Consul invalidates it within two TTLs of the last renewal anyway, which
        // released its keys' holders already.
        var budget = _client.RequestTimeout;
        var started = Stopwatch.GetTimestamp();
        var outcome = await Retry.UntilDoneAsync(
            async () =>
            {
                var left = budget - Stopwatch.GetElapsedTime(started);
                using var timeout = new CancellationTokenSource(left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
                await _client.DestroySessionAsync(Id, timeout.Token).ConfigureAwait(false);
                return true;
            },
            new RetryPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), budget),
            ex => Log.DestroyFailed(_logger, Id, ex),
            static () => true,
            CancellationToken.None).ConfigureAwait(false);
        if (outcome == RetryOutcome.Done)
        {
            _gone = true;
            Log.SessionDestroyed(_logger, Id);
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
                        // "Not found" from a leader just elected may come from a state that has not applied its log yet
                        // (a renewal reads without a barrier): believed only when a consistent read agrees.
                        if (await ConfirmAliveAsync(left < attemptTimeout ? left : attemptTimeout).ConfigureAwait(false) == false)
                        {
                            break;
                        }

                        Log.RenewNotFoundNotConfirmed(_logger, Id);
                        lastAttemptFailed = true;
                        continue;
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
