using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Leaves a semaphore: a release, and the give-up of an acquire that ended without a permit (timed out, cancelled,
/// failed), which may have left a contender key and, when its grant's answer was lost, a holder entry. One transaction
/// removes this session from <c>.lock</c> (check-and-set; <c>.lock</c> itself goes when nobody holds or contends any
/// more, so idle semaphores leave nothing in Consul) and deletes the contender key; it is retried (<see cref="Retry"/>)
/// until done, and only then does the contender's own session end. Leaving needs no live session, so a permit whose
/// session was destroyed still leaves no holder entry behind.
/// </summary>
internal sealed class PermitReleaser(ConsulClient client, SessionPool sessions, BackgroundWork background, Disposal disposal, ILogger logger)
{
    // Check-and-set conflicts are contention, not failure: read and try again at once, this many times per try.
    private const int CasRounds = 16;

    /// <summary>
    /// Leaves the semaphore once <paramref name="pending"/> (a request whose answer the caller did not wait for) has
    /// ended, then ends the session. Retries in the background past <paramref name="waitAtMost"/>.
    /// </summary>
    public async Task LeaveAsync(string prefix, LockSession session, Task? pending, TimeSpan waitAtMost)
    {
        var leaving = background.Track(LeaveCoreAsync(prefix, session, pending));
        try
        {
            await leaving.WaitAsync(waitAtMost).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still retrying in the background; disposal waits for it.
        }
    }

    /// <summary>The give-up of an acquire: leaves in the background.</summary>
    public void GiveUp(string prefix, LockSession session, Task? pending) => background.Track(LeaveCoreAsync(prefix, session, pending));

    private async Task LeaveCoreAsync(string prefix, LockSession session, Task? pending)
    {
        if (pending is not null)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Whatever it did is found in Consul next.
            }
        }

        try
        {
            // At least one try, also when the provider's disposal has begun (it waits for this work a request timeout):
            // a contender that only lets its session's end delete its key never removes .lock, being the last one out.
            var tried = false;
            await Retry.UntilDoneAsync(
                () =>
                {
                    tried = true;
                    return TryLeaveAsync(prefix, session.Id);
                },
                RetryPolicy.Prompt,
                ex => Log.PermitReleaseFailed(logger, prefix, ex),
                () => !tried || !disposal.HasStarted,
                disposal.Token).ConfigureAwait(false);
        }
        finally
        {
            // A session of its own: returning it ends it (with behaviour delete, which removes a contender key that
            // could not be removed above; a holder entry left then is pruned by the next holder, as the Go client does).
            sessions.Return(session);
        }
    }

    /// <summary>One try: read the folder, write <c>.lock</c> without this session and delete its contender key, in one transaction.</summary>
    internal async Task<bool> TryLeaveAsync(string prefix, string sessionId)
    {
        var lockKey = SemaphoreLayout.LockKey(prefix);
        var contenderKey = SemaphoreLayout.ContenderKey(prefix, sessionId);
        for (var round = 0; round < CasRounds; round++)
        {
            var read = await client.GetKeyAsync(SemaphoreLayout.Folder(prefix), recurse: true, 0, default, consistent: false, CancellationToken.None).ConfigureAwait(false);
            var lockEntry = read.Entries.FirstOrDefault(e => e.Key == lockKey);
            var operations = new List<TxnOperation>();
            if (lockEntry is { Flags: SemaphoreLayout.FlagValue } && WithoutHolder(prefix, sessionId, lockEntry, read.Entries) is { } write)
            {
                operations.Add(write);
            }

            operations.Add(TxnOperation.Delete(contenderKey));
            var answer = await client.TransactAsync(operations, prefix, $"leave the semaphore '{prefix}'", CancellationToken.None).ConfigureAwait(false);
            if (TxnRefusals.RefusalOf(answer) is not var (refusal, why))
            {
                Log.PermitReleased(logger, prefix, sessionId);
                if (lockEntry is not null && !operations.Exists(o => o.KV.Verb == "delete-cas"))
                {
                    // Others contended when we read, and they may be leaving at this moment too, each having seen the
                    // others (cancelled waiters, a holder and a waiter, processes stopping together). Whoever commits last
                    // reads after every commit, finds the folder empty and removes .lock; earlier readers find it in use.
                    await RemoveIfIdleAsync(prefix).ConfigureAwait(false);
                }

                return true;
            }

            if (refusal != TxnRefusal.KeyChanged)
            {
                throw new ConsulLockException($"Consul at {client.Address} refused to let session {sessionId} leave the semaphore '{prefix}': {why}.", prefix, 409, innerException: null);
            }
        }

        return false;
    }

    /// <summary>Removes <c>.lock</c> when no key under the prefix is held by a session any more and it names no live holder.</summary>
    private async Task RemoveIfIdleAsync(string prefix)
    {
        var lockKey = SemaphoreLayout.LockKey(prefix);
        var read = await client.GetKeyAsync(SemaphoreLayout.Folder(prefix), recurse: true, 0, default, consistent: false, CancellationToken.None).ConfigureAwait(false);
        if (read.Entries.FirstOrDefault(e => e.Key == lockKey) is { Flags: SemaphoreLayout.FlagValue } lockEntry
            && !read.Entries.Any(e => e.Key != lockKey && !string.IsNullOrEmpty(e.Session)))
        {
            // At the index read: a contender that joined since makes it fail, and it creates .lock again if needed.
            await client.TransactAsync([TxnOperation.DeleteCas(lockKey, lockEntry.ModifyIndex)], prefix, $"tidy the semaphore '{prefix}'", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The write of <c>.lock</c> without <paramref name="sessionId"/> (and without dead holders), or its removal when
    /// nobody is left; null when it holds neither this session nor anyone else's work to tidy.
    /// </summary>
    private static TxnOperation? WithoutHolder(string prefix, string sessionId, KvEntry lockEntry, IReadOnlyList<KvEntry> entries)
    {
        var lockKey = SemaphoreLayout.LockKey(prefix);
        SemaphoreDocument document;
        try
        {
            document = string.IsNullOrEmpty(lockEntry.Value)
                ? new SemaphoreDocument()
                : System.Text.Json.JsonSerializer.Deserialize(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(lockEntry.Value)), ConsulJsonContext.Default.SemaphoreDocument) ?? new SemaphoreDocument();
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or FormatException)
        {
            // Not a semaphore's state (the acquire said so): leave it untouched.
            return null;
        }

        var alive = entries.Where(e => e.Key != lockKey && !string.IsNullOrEmpty(e.Session)).Select(e => e.Session!).ToHashSet(StringComparer.Ordinal);
        alive.Remove(sessionId);
        var remaining = (document.Holders ?? []).Where(h => h.Value && alive.Contains(h.Key)).Select(h => h.Key).ToList();
        // Nobody holds and nobody else contends: the semaphore's state goes with its last user, as the Go client's
        // Destroy does, so that semaphores of many prefixes (one per tenant) do not pile up in Consul. Someone who
        // read it before this goes finds its check-and-set refused and reads again.
        var wasHolder = document.Holders?.GetValueOrDefault(sessionId) == true;
        return remaining.Count == 0 && alive.Count == 0 ? TxnOperation.DeleteCas(lockKey, lockEntry.ModifyIndex)
            : !wasHolder ? null
            : TxnOperation.Cas(lockKey, SemaphoreLayout.Encode(document.Limit, remaining), SemaphoreLayout.FlagValue, lockEntry.ModifyIndex);
    }
}
