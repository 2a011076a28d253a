using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Why an acquire ended at its deadline: another holder kept the key (the caller gets null, or a generated method its
/// timeout behaviour), or Consul failed meanwhile (the caller gets <see cref="ConsulLockTimeoutException"/> with
/// Consul's last error, so that an outage is not mistaken for a busy key).
/// </summary>
internal sealed class TimeoutCause(ConsulClient client)
{
    // Short, so that the answer still comes within half a second of the caller's deadline.
    private static readonly TimeSpan s_probeTimeout = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_silence = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Throws <see cref="ConsulLockTimeoutException"/> when Consul failed during the attempt, or is silent now (it has
    /// not answered for a second, which a long blocking query makes normal: then it is asked once, briefly). An attempt
    /// that never found the key busy asks too, whatever the silence: no holder held it up, so unless Consul answers
    /// at once the wait ended on a slow Consul (answers that come, but later than the deadline).
    /// </summary>
    public Task ThrowIfConsulFailedAsync(LockAttempt attempt) =>
        ThrowIfConsulFailedAsync(attempt.Key, attempt.Started, foundBusy: attempt.WaitStarted is not null, attempt.Deadline.Timeout);

    /// <summary>The same for any recipe's attempt (a semaphore permit): <paramref name="foundBusy"/> when it found the key or the permits taken.</summary>
    public async Task ThrowIfConsulFailedAsync(string key, long started, bool foundBusy, TimeSpan timeout)
    {
        var failure = client.FailingSince(started);
        if (failure is null && (client.SinceLastAnswer > s_silence || !foundBusy))
        {
            try
            {
                using var probe = new CancellationTokenSource(s_probeTimeout);
                await client.PingAsync(probe.Token).ConfigureAwait(false);
            }
            catch (ConsulLockException ex)
            {
                failure = ex;
            }
            catch (OperationCanceledException ex)
            {
                failure = new ConsulLockException($"Consul at {client.Address} did not answer within {s_probeTimeout.TotalSeconds:0.##} s.", key, null, ex);
            }
        }

        if (failure is not null)
        {
            throw new ConsulLockTimeoutException(key, timeout, failure);
        }
    }
}
