using ConsulLock.Aop.Common;
using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// One Consul session shared by the locks whose settings are equal. It renews itself at TTL/2 and declares itself
/// lost when Consul no longer knows it or when no renewal has been acknowledged for one TTL on a monotonic clock:
/// Consul waits up to twice the TTL before it invalidates a silent session, so the holders stop before anyone else
/// can be granted their keys.
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

    /// <summary>Locks and acquires currently using the session; guarded by the owning <see cref="SessionPool"/>.</summary>
    internal int Rentals { get; set; }

    /// <summary>Ends the session once it has been idle for the idle timeout; owned by the <see cref="SessionPool"/>.</summary>
    internal Timer? IdleTimer { get; set; }

    /// <summary>Set when a release failed: the session may still hold that key, so it must not be handed out again.</summary>
    internal bool IsPoisoned { get; set; }

    public static async Task<LockSession> CreateAsync(
        SessionSettings settings, ConsulLockOptions options, ConsulClient client, ILogger logger, Action<LockSession> onLost,
        CancellationToken cancellationToken)
    {
        var createdAt = Stopwatch.GetTimestamp();
        var id = await client.CreateSessionAsync(
            new SessionCreateRequest
            {
                Name = options.SessionName,
                TTL = ConsulDuration.Format(settings.Ttl),
                LockDelay = ConsulDuration.Format(settings.LockDelay),
                Behavior = settings.Behavior == SessionBehavior.Delete ? "delete" : "release",
                Checks = [.. options.SessionChecks],
            },
            cancellationToken).ConfigureAwait(false);

        var session = new LockSession(id, settings, createdAt, client, logger);
        Log.SessionCreated(logger, id, settings.Ttl, settings.LockDelay, settings.Behavior);
        session._renewLoop = session.RenewLoopAsync(onLost);
        return session;
    }

    /// <summary>Declares the session lost (for example when Consul says it is gone while the engine uses it).</summary>
    public void MarkLost(string reason) => MarkLost(reason, warn: true);

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

    /// <summary>Stops renewing and destroys the session in Consul (best effort), which releases its keys.</summary>
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

        try
        {
            using var timeout = new CancellationTokenSource(_client.RequestTimeout);
            await _client.DestroySessionAsync(Id, timeout.Token).ConfigureAwait(false);
            Log.SessionDestroyed(_logger, Id);
        }
        catch (ConsulLockException ex)
        {
            Log.DestroyFailed(_logger, Id, ex);
        }

        // Ended on purpose (idle, or the provider is disposed): not worth a warning, but anything still holding on learns.
        MarkLost("the session was ended", warn: false);
    }

    private async Task RenewLoopAsync(Action<LockSession> onLost)
    {
        await Task.Yield();
        var ttl = Settings.Ttl;
        var retryInterval = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, ttl.Ticks / 10));
        var lastAttemptFailed = false;
        try
        {
            while (!_stop.IsCancellationRequested && !IsLost)
            {
                var sinceAck = Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAcknowledged));
                var untilDeadline = ttl - sinceAck;
                if (untilDeadline <= TimeSpan.Zero)
                {
                    MarkLost($"no renewal was acknowledged for one TTL ({ttl.TotalSeconds:0.#} s)");
                    break;
                }

                var untilNext = lastAttemptFailed ? retryInterval : ttl / 2 - sinceAck;
                var delay = untilNext < untilDeadline ? untilNext : untilDeadline;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
                    continue;
                }

                var sentAt = Stopwatch.GetTimestamp();
                try
                {
                    if (!await _client.RenewSessionAsync(Id, untilDeadline, _stop.Token).ConfigureAwait(false))
                    {
                        MarkLost("Consul no longer knows the session (it was destroyed or invalidated)");
                        break;
                    }

                    // Consul restarted the TTL no earlier than when the request left; count from then.
                    Volatile.Write(ref _lastAcknowledged, sentAt);
                    lastAttemptFailed = false;
                }
                catch (ConsulLockException ex)
                {
                    Log.RenewFailed(_logger, Id, ex);
                    lastAttemptFailed = true;
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
