using System.Collections.Concurrent;
using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The semaphore recipe (contract section 10) on the engine's parts: sessions of their own from the
/// <see cref="SessionPool"/>, waits on blocking queries and <see cref="KeyWatches"/>, loss by <see cref="LossMonitor"/>
/// with the semaphore's rule, releases and give-ups retried by <see cref="Retry"/> in <see cref="BackgroundWork"/>.
/// Only the rule of who holds differs from the lock's: a holder is a session in <c>.lock</c> (see
/// <see cref="SemaphoreLayout"/>). Each permit is a contender of its own, so a process holding two permits shows in
/// Consul as two contenders, as the Go client's layout counts them.
/// </summary>
internal sealed class Semaphores
{
    private readonly ConcurrentDictionary<PermitHandle, byte> _held = new();
    private readonly ConsulClient _client;
    private readonly Disposal _disposal;
    private readonly SemaphoreAcquirer _acquirer;

    public Semaphores(
        ConsulLockOptions options, ConsulClient client, SessionPool sessions, KeyWatches watches, BackgroundWork background, Disposal disposal, TimeoutCause timeouts, ILogger logger)
    {
        _client = client;
        _disposal = disposal;
        Releaser = new PermitReleaser(client, sessions, background, disposal, logger);
        _acquirer = new SemaphoreAcquirer(client, sessions, watches, this, disposal, timeouts, options.WatchWait, options.HeldKeyWatchDelay, logger);
    }

    internal PermitReleaser Releaser { get; }

    /// <summary>Permits given out and not released yet.</summary>
    internal int HeldCount => _held.Count;

    /// <summary>
    /// Acquires a permit of the semaphore at <paramref name="prefix"/> (a full key, validated); null when
    /// <paramref name="timeout"/> passed while <paramref name="limit"/> holders kept it.
    /// </summary>
    public async ValueTask<IConsulLockHandle?> AcquireAsync(string prefix, int limit, SessionSettings settings, TimeSpan? timeout, CancellationToken cancellationToken, bool skipOnTimeout = false)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = LockTelemetry.Source.StartActivity("ConsulLock.AcquireSemaphore");
        activity?.SetTag("consullock.key", prefix);
        activity?.SetTag("consullock.limit", limit);
        var outcome = "error";
        PermitHandle? handle = null;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposal.Token);
        if (timeout > TimeSpan.Zero)
        {
            bounded.CancelAfter(timeout.Value);
        }

        var attempt = new PermitAttempt(prefix, limit, settings, new Deadline(started, timeout), bounded.Token);
        try
        {
            try
            {
                handle = await _acquirer.AcquireAsync(attempt).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && _disposal.HasStarted)
            {
                throw Disposal.EndedWait();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_disposal.HasStarted)
            {
                // Only the deadline is left to have cancelled it: it passed while a request or a wait was under way (the
                // give-up below cleans up after it). A busy semaphore gives null; a failing or silent Consul says so.
                await _acquirer.ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
            }
            catch (ConsulLockException ex) when (ConsulClient.IsTransient(ex) && attempt.Deadline.HasPassed)
            {
                throw new ConsulLockTimeoutException(prefix, attempt.Deadline.Timeout, ex);
            }
            finally
            {
                if (handle is null && attempt.Session is { } session)
                {
                    // No permit without a handle: whatever the attempt wrote (a contender key, a holder entry whose
                    // answer it did not wait for) is removed, then its session ends.
                    Releaser.GiveUp(prefix, session, attempt.Pending);
                }
            }

            if (handle is not null)
            {
                _held.TryAdd(handle, 0);
                if (_disposal.HasStarted)
                {
                    await handle.DisposeAsync().ConfigureAwait(false);
                    throw Disposal.EndedWait();
                }
            }

            outcome = LockTelemetry.OutcomeOf(handle is not null, skipOnTimeout);

            return handle;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            LockTelemetry.AcquireEnded(activity, started, outcome);
        }
    }

    /// <summary>A handle's release: leaves the semaphore (retried in the background past one request timeout).</summary>
    internal async Task ReleaseAsync(PermitHandle handle)
    {
        if (_held.TryRemove(handle, out _))
        {
            await Releaser.LeaveAsync(handle.Key, handle.Session, pending: null, _client.RequestTimeout).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The provider's disposal (after its waits ended): held permits learn first, then leave the semaphore, each within
    /// one request timeout; the sessions' end (next, in the pool) removes their contender keys in any case.
    /// </summary>
    public async Task DisposeAsync()
    {
        var held = _held.Keys.ToArray();
        await Within(Task.WhenAll(held.Select(h => h.LoseAsync("the lock provider was disposed"))), _client.RequestTimeout).ConfigureAwait(false);
        var leaving = held.Where(h => _held.TryRemove(h, out _)).Select(h => Releaser.TryLeaveAsync(h.Key, h.SessionId));
        await Within(Task.WhenAll(leaving), _client.RequestTimeout).ConfigureAwait(false);
    }

    private static async Task Within(Task work, TimeSpan limit)
    {
        try
        {
            await work.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Disposal goes on: the sessions' end takes care of what is left.
        }
    }
}
