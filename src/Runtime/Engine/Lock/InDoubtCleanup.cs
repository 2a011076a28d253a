using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// What an acquire that ends without a handle (timed out, cancelled, failed) leaves behind, cleaned up before the key's
/// gate opens again (contract, section 6: no lock without a handle): its place in the key's queue, and a lock request
/// that may have been granted though no answer said so.
/// </summary>
internal sealed class InDoubtCleanup(
    ConsulClient client, KeyGates gates, SessionPool sessions, LockReleaser releaser, QueueTransactions queue,
    BackgroundWork background, Disposal disposal, ILogger logger)
{
    private static readonly RetryPolicy s_unlocking = RetryPolicy.Prompt;

    /// <summary>An acquire ended without a handle: cleans up what it leaves, then ends its turn at the key.</summary>
    public void GiveUp(LockAttempt attempt)
    {
        if (attempt.QueueEntry is { } entry)
        {
            // Leave the queue first (the gate stays closed meanwhile), so that the waiter behind moves up.
            var pending = attempt.PendingJoin;
            attempt.QueueEntry = null;
            gates.MarkCleaningUp(attempt.Key);
            background.Run(async () =>
            {
                await queue.LeaveAsync(attempt.Key, entry, pending).ConfigureAwait(false);
                GiveUp(attempt);
            });
            return;
        }

        if (!attempt.InDoubt || attempt.Session is not { } session)
        {
            releaser.EndTurn(attempt.Key, attempt.Session);
            return;
        }

        gates.MarkCleaningUp(attempt.Key);
        background.Run(() => ReleaseInDoubtGrantAsync(attempt.Key, session, attempt.Pending));
    }

    /// <summary>
    /// Lets go of what a lock request that its caller gave up on may have been granted. With the request still
    /// running, its answer says exactly what to release. With no answer (the connection failed, or a 5xx that may
    /// have come after the write), the request may still take effect later: the key is looked at now and twice more
    /// (after a second and after a request timeout), each time inside the key's gate, where no handle of this process
    /// holds it, so that a hold by this session is surely the orphan and never a later grant to a caller of ours
    /// that shares the session. Between the looks the gate is open, so callers of ours are not held up.
    /// </summary>
    private async Task ReleaseInDoubtGrantAsync(string key, LockSession session, Task<TxnResponse>? pending)
    {
        var gateHeld = true;
        try
        {
            if (pending is not null && await AnswerOfAsync(pending).ConfigureAwait(false) is { } answer)
            {
                if (answer.Errors is not { Count: > 0 } && answer.Results?.LastOrDefault(r => r.KV is not null)?.KV is { } granted && granted.Session == session.Id)
                {
                    await releaser.GiveBackAsync(key, session, granted.ModifyIndex).ConfigureAwait(false);
                }

                return;
            }

            foreach (var pause in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(1), client.RequestTimeout })
            {
                if (pause > TimeSpan.Zero)
                {
                    gates.Exit(key);
                    gateHeld = false;
                    try
                    {
                        await Task.Delay(pause, disposal.Token).ConfigureAwait(false);
                        gateHeld = await gates.EnterAsync(key, Timeout.InfiniteTimeSpan, disposal.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }

                await UnlockIfOrphanedAsync(key, session).ConfigureAwait(false);
            }
        }
        finally
        {
            if (gateHeld)
            {
                releaser.EndTurn(key, session);
            }
            else
            {
                sessions.Return(session);
            }
        }
    }

    private static async Task<TxnResponse?> AnswerOfAsync(Task<TxnResponse> pending)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // No answer: what it did is found out by looking at the key.
            return null;
        }
    }

    /// <summary>Unlocks the key when this session holds it (inside the gate that can only be an orphan), as it is now.</summary>
    private async Task UnlockIfOrphanedAsync(string key, LockSession session)
    {
        var outcome = await Retry.UntilDoneAsync(
            async () =>
            {
                var (entry, _) = await client.ReadKeyAsync(key, CancellationToken.None).ConfigureAwait(false);
                if (entry is not null && entry.Session == session.Id)
                {
                    await client.TransactAsync(
                        [TxnOperation.CheckIndex(key, entry.ModifyIndex), TxnOperation.Unlock(key, session.Id, ConsulClient.LockFlagValue)],
                        key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
                }

                return true;
            },
            s_unlocking,
            ex => Log.ReleaseFailed(logger, key, ex),
            () => !session.IsGone && !disposal.HasStarted,
            disposal.Token).ConfigureAwait(false);
        if (outcome == RetryOutcome.Refused)
        {
            sessions.Retire(session);
        }
    }
}
