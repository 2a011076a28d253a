using System.Diagnostics;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The lock engine's façade: it wires the parts together (docs/architecture.md draws them) and runs an acquire from
/// the key's gate in this process to a handle, or to a clean give-up. The parts:
/// <list type="bullet">
/// <item><see cref="KeyGates"/>: one caller per key and process talks to Consul; the others wait in line here.</item>
/// <item><see cref="LockAcquirer"/>: the try loop; <see cref="QueueWait"/>: waiting for a turn in the key's queue.</item>
/// <item><see cref="LockReleaser"/>: releases, and the end of every caller's turn; <see cref="InDoubtCleanup"/>: what a
/// failed or abandoned acquire leaves behind.</item>
/// <item><see cref="SessionPool"/>, <see cref="KeyWatches"/> and <see cref="LossMonitor"/>: sessions, watches and loss
/// reports, shared by every recipe.</item>
/// </list>
/// </summary>
internal sealed class LockEngine : IAsyncDisposable
{
    private readonly ConsulClient _client;
    private readonly KeyGates _gates;
    private readonly HeldLocks _held = new();
    private readonly BackgroundWork _background;
    private readonly Disposal _disposal = new();
    private readonly LockAcquirer _acquirer;
    private readonly LockReleaser _releaser;
    private readonly InDoubtCleanup _inDoubt;
    private readonly TimeoutCause _timeouts;
    private readonly string _instanceName;

    public LockEngine(ConsulLockOptions options, ConsulClient client, ILogger logger)
    {
        _client = client;
        _instanceName = options.InstanceName;
        Logger = logger;
        _background = new BackgroundWork(logger);
        Sessions = new SessionPool(options, client, logger);
        Watches = new KeyWatches(client, logger, options.WatchWait, options.PollInterval);
        Holders = new HolderWatch(client, Watches, _disposal, logger);
        var queue = new QueueTransactions(client, _background, _disposal, logger);
        var recentReleases = new RecentQueueReleases();
        _gates = new KeyGates(queue.LeaveUnusedHandoff);
        var holds = new HoldKeeper(client, options, _background, _disposal, logger);
        _releaser = new LockReleaser(client, _gates, Sessions, queue, recentReleases, holds, _held, _background, _disposal, logger);
        _inDoubt = new InDoubtCleanup(client, _gates, Sessions, _releaser, queue, _background, _disposal, logger);
        _timeouts = new TimeoutCause(client);
        var queueWait = new QueueWait(client, Sessions, Watches, queue, _timeouts, logger);
        _acquirer = new LockAcquirer(
            client, Sessions, _gates, Watches, queueWait, queue, recentReleases, _releaser, _held, _background, _disposal, options.HeldKeyWatchDelay, logger);
        Semaphores = new Semaphores(options, client, Sessions, Watches, _background, _disposal, _timeouts, logger);
    }

    public ILogger Logger { get; }

    public SessionPool Sessions { get; }

    public KeyWatches Watches { get; }

    /// <summary>Who holds a key, now and as it changes (<see cref="HolderWatch"/>).</summary>
    public HolderWatch Holders { get; }
    /// <summary>The semaphore recipe (contract section 10), on the same sessions, watches and background work.</summary>
    public Semaphores Semaphores { get; }

    /// <summary>
    /// Acquires <paramref name="key"/>; null when <paramref name="timeout"/> passed while another holder kept it. With
    /// <paramref name="skipOnTimeout"/> the caller skips its work then: the outcome says "skipped", not "timeout".
    /// </summary>
    public async ValueTask<IConsulLockHandle?> AcquireAsync(
        string key, SessionSettings settings, HoldLimits holds, TimeSpan? timeout, FlowLocks.Marker marker, CancellationToken cancellationToken,
        bool skipOnTimeout = false, bool queueFirst = false)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = LockTelemetry.Source.StartActivity("ConsulLock.Acquire");
        activity?.SetTag("consullock.key", key);
        var outcome = "error";
        IConsulLockHandle? handle = null;
        CancellationTokenSource? linked = null;
        // Bounds every request and wait of the attempt by the caller's deadline (not by the request timeout); "try once"
        // (zero) is one round of requests, each within the request timeout.
        using var bounded = timeout > TimeSpan.Zero ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
        bounded?.CancelAfter(timeout!.Value);
        try
        {
            var deadline = new Deadline(started, timeout);
            var token = cancellationToken;
            if (!_gates.IsFree(key))
            {
                // Waiting behind another caller of this process: provider disposal must end that wait too.
                linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposal.Token);
                token = linked.Token;
            }

            if (await EnterGateAsync(key, deadline, token, cancellationToken).ConfigureAwait(false))
            {
                var attempt = new LockAttempt(key, settings, holds, deadline, marker, bounded?.Token ?? cancellationToken, cancellationToken)
                {
                    InstanceName = _instanceName,
                    Activity = activity,
                    TraceParent = HolderDocument.TraceParentOf(activity ?? Activity.Current),
                    QueueFirst = queueFirst,
                };
                try
                {
                    handle = await _acquirer.AcquireAsync(attempt).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (attempt.DeadlineStopped && !_disposal.HasStarted)
                {
                    // The deadline passed while a request or a wait was under way: what it was granted is released by
                    // the give-up below, in the background.
                    await _timeouts.ThrowIfConsulFailedAsync(attempt).ConfigureAwait(false);
                }
                finally
                {
                    if (handle is null)
                    {
                        _inDoubt.GiveUp(attempt);
                    }
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
            linked?.Dispose();
            if (handle is null)
            {
                marker.Exit();
            }

            LockTelemetry.AcquireEnded(activity, started, outcome);
        }
    }

    /// <summary>Whether someone waits on <paramref name="key"/> now, on the key itself or on an entry of its queue (for tests).</summary>
    internal bool HasWaiterOn(string key)
    {
        var queue = QueueLayout.Folder(key);
        return Watches.HasWaiterOn(watched => watched == key || watched.StartsWith(queue, StringComparison.Ordinal));
    }

    public async ValueTask DisposeAsync()
    {
        await _disposal.StartAsync().ConfigureAwait(false);
        await Watches.DisposeAsync().ConfigureAwait(false);

        // Held locks learn first; then their keys are let go as a release would (deleted when untouched since the
        // grant, with their queue entries), so that disposal leaves nothing behind in Consul; then the sessions end,
        // which releases whatever could not be released in time.
        var held = _held.Snapshot();
        await WithinAsync(Task.WhenAll(held.Select(h => h.LoseAsync("the lock provider was disposed"))), _client.RequestTimeout).ConfigureAwait(false);
        var releasing = held.Where(_held.TryRemove).Select(_releaser.ReleaseOnDisposalAsync).ToArray();
        await WithinAsync(Task.WhenAll(releasing), _client.RequestTimeout).ConfigureAwait(false);
        await Semaphores.DisposeAsync().ConfigureAwait(false);
        await _background.WhenDoneAsync(_client.RequestTimeout).ConfigureAwait(false);
        await Sessions.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task WithinAsync(Task work, TimeSpan limit)
    {
        try
        {
            await work.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private async ValueTask<bool> EnterGateAsync(string key, Deadline deadline, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            return await _gates.EnterAsync(key, deadline.Remaining, token, cleanUpGrace: _client.RequestTimeout).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested && _disposal.HasStarted)
        {
            throw Disposal.EndedWait();
        }
    }
}
