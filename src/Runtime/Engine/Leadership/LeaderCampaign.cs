using ConsulLock.Aop.Common;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Leader election as a recipe on a provider's lock: acquire the key (the engine's own wait: queue, watches, lock-delay,
/// retries), run a term under the handle, resign by disposing it, campaign again after a loss. Nothing of Consul's
/// protocol lives here, so every provider (Consul's, the in-memory one, a user's own) campaigns the same way.
/// </summary>
internal static class LeaderCampaign
{
    /// <summary>The shortest pause between two campaigns, so that repeated losses or refusals never spin.</summary>
    internal static readonly TimeSpan ShortestPause = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest pause after a failed campaign (Consul unreachable or refusing): a heal is noticed within it.</summary>
    internal static readonly TimeSpan LongestErrorPause = TimeSpan.FromSeconds(5);

    /// <summary>Validates the arguments (before any network call) and starts the campaign.</summary>
    public static Task RunAsync(
        IConsulLockProvider provider, string key, Func<ConsulLockContext, CancellationToken, Task> lead, ConsulLockRequest? request,
        TimeSpan lockDelay, TimeProvider time, ILogger? logger, LeaderCampaigns? campaigns, CancellationToken cancellationToken,
        CampaignAcquire? acquire = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(lead);
        var fullKey = provider is IKeyFolderProvider folder ? folder.FullKey(key) : key;
        LockKey.Validate(fullKey);
        acquire ??= (k, r, _, token) => provider.AcquireAsync(k, r, token);
        return CampaignAsync(acquire, key, fullKey, lead, request, lockDelay, time, logger ?? NullLogger.Instance, campaigns, cancellationToken);
    }

    private static async Task CampaignAsync(
        CampaignAcquire acquire, string key, string fullKey, Func<ConsulLockContext, CancellationToken, Task> lead, ConsulLockRequest? request,
        TimeSpan lockDelay, TimeProvider time, ILogger logger, LeaderCampaigns? campaigns, CancellationToken cancellationToken)
    {
        using var state = campaigns?.Start(fullKey) ?? new CampaignState(fullKey);

        // After a loss the pause (half the lock-delay to all of it, jittered) and the acquire that queues first
        // (afterLoss) let the standbys, already queued for the key, lead first: Consul keeps the key from everyone for
        // the lock-delay after a session ends, and then the queue hands it on in order. The floor keeps repeated losses
        // from spinning when the lock-delay is 0.
        var lossPause = new Backoff(Max(lockDelay, ShortestPause), Max(lockDelay, ShortestPause));
        var errorPause = new Backoff(ShortestPause, LongestErrorPause);
        var afterLoss = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            IConsulLockHandle handle;
            try
            {
                state.StandingBy();
                handle = await acquire(key, request, afterLoss, cancellationToken).ConfigureAwait(false);
                errorPause.Reset();
                afterLoss = false;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ConsulLockException ex) when (ex is not ConsulLockReentrancyException)
            {
                // The engine retried what it retries (transient failures) for as long as the wait allows, which for a
                // campaign is forever; what reaches here (an ACL refusal, a key that holds other data) may be fixed by
                // an operator, so the campaign goes on, paced, and the health check says why it cannot lead.
                state.Failed(ex);
                var pause = errorPause.Next();
                Log.CampaignFailed(logger, fullKey, pause, ex);
                if (!await PauseAsync(pause, time, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            state.Leading(handle.FencingToken);
            Log.TermStarted(logger, fullKey, handle.FencingToken, handle.SessionId);
            if (!await RunTermAsync(handle, lead, cancellationToken).ConfigureAwait(false))
            {
                Log.Resigned(logger, fullKey, handle.FencingToken);
                return;
            }

            afterLoss = true;
            var next = lossPause.Next();
            Log.TermLost(logger, fullKey, handle.FencingToken, next);
            if (!await PauseAsync(next, time, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Runs one term and resigns (disposes the handle) when the body has ended, whatever ended it: the body's token
    /// fires first, so a body that honours it lets the next leader in within a round trip. True when leadership was
    /// lost and the campaign goes on; false when the body returned or the caller cancelled. A body's exception (other
    /// than the cancellation its token caused) propagates, after the resignation.
    /// </summary>
    private static async Task<bool> RunTermAsync(
        IConsulLockHandle handle, Func<ConsulLockContext, CancellationToken, Task> lead, CancellationToken cancellationToken)
    {
        await using (handle.ConfigureAwait(false))
        {
            using var whileLeader = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handle.LostToken);
            try
            {
                await lead(new ConsulLockContext(handle, whileLeader.Token), whileLeader.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (whileLeader.IsCancellationRequested)
            {
                // The term ended as its token asked; what follows depends on why it fired.
            }

            return !cancellationToken.IsCancellationRequested && handle.LostToken.IsCancellationRequested;
        }
    }

    private static async Task<bool> PauseAsync(TimeSpan pause, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}

/// <summary>
/// How a campaign acquires its key: the provider's <see cref="IConsulLockProvider.AcquireAsync"/>, or (Consul's
/// provider) an acquire that, <paramref name="afterLoss"/>, queues behind the processes already waiting.
/// </summary>
internal delegate ValueTask<IConsulLockHandle> CampaignAcquire(string key, ConsulLockRequest? request, bool afterLoss, CancellationToken cancellationToken);
