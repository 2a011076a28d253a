using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>How a retried piece of background work is paced: jittered back-off from <see cref="First"/> to <see cref="Cap"/>, within an optional budget.</summary>
internal readonly record struct RetryPolicy(TimeSpan First, TimeSpan Cap, TimeSpan? Budget = null)
{
    /// <summary>
    /// The longest pause between tries of work that others may be waiting behind: a release, a queue exit, an orphan's
    /// unlock, a key's watch, an acquire's next try. A heal is noticed within it, which leaves the rest of the recovery
    /// bound (a key granted again within 2 s of a heal, CONTRACT.md section 6) for the handover. Longer pauses spare a
    /// Consul that is down little (a refused connection costs it nothing) and cost every waiter behind them.
    /// </summary>
    public static readonly TimeSpan HealNoticedWithin = TimeSpan.FromSeconds(1);

    /// <summary>Back-off from 100 ms to <see cref="HealNoticedWithin"/>: for work that others may be waiting behind.</summary>
    public static readonly RetryPolicy Prompt = new(TimeSpan.FromMilliseconds(100), HealNoticedWithin);
}

internal enum RetryOutcome
{
    /// <summary>The attempt succeeded.</summary>
    Done,

    /// <summary>Consul refused for good (a permanent <see cref="ConsulLockException"/>); trying again cannot help.</summary>
    Refused,

    /// <summary>The budget ran out, the condition to go on turned false, or the stop token fired.</summary>
    Stopped,
}

/// <summary>
/// The one retry loop of background work (releases, queue exits, orphan unlocks, session ends): an attempt is repeated
/// after a transient failure, and after any exception it did not expect (logged, never the end of the loop), until it
/// succeeds, Consul refuses for good, or the work is no longer wanted.
/// </summary>
internal static class Retry
{
    /// <param name="attempt">One try; true when done, false to try again.</param>
    /// <param name="policy">Pacing and budget.</param>
    /// <param name="failed">Told of every failure (to log it).</param>
    /// <param name="mayGoOn">Checked before each try; false stops.</param>
    /// <param name="stop">Ends the pauses (disposal).</param>
    public static async Task<RetryOutcome> UntilDoneAsync(
        Func<Task<bool>> attempt, RetryPolicy policy, Action<Exception> failed, Func<bool> mayGoOn, CancellationToken stop)
    {
        var backoff = new Backoff(policy.First, policy.Cap);
        var started = Stopwatch.GetTimestamp();
        while (mayGoOn())
        {
            try
            {
                if (await attempt().ConfigureAwait(false))
                {
                    return RetryOutcome.Done;
                }
            }
            catch (ConsulLockException ex) when (!ConsulClient.IsTransient(ex))
            {
                failed(ex);
                return RetryOutcome.Refused;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return RetryOutcome.Stopped;
            }
            catch (Exception ex)
            {
                failed(ex);
            }

            var left = policy.Budget is { } budget ? budget - Stopwatch.GetElapsedTime(started) : Timeout.InfiniteTimeSpan;
            if (policy.Budget is not null && left <= TimeSpan.Zero)
            {
                return RetryOutcome.Stopped;
            }

            try
            {
                await Task.Delay(policy.Budget is null ? backoff.Next() : backoff.Next(left), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return RetryOutcome.Stopped;
            }
        }

        return RetryOutcome.Stopped;
    }
}
