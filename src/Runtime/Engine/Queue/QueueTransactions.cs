using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The requests that change a key's queue (<see cref="QueueLayout"/>): take a place, release the key and take the next
/// local caller a place in one go, leave, and remove the entries of sessions that ended. Leaving is retried while
/// Consul fails: an entry left behind holds the queue up until its session ends.
/// </summary>
internal sealed class QueueTransactions(ConsulClient client, BackgroundWork background, Disposal disposal, ILogger logger)
{
    private static readonly RetryPolicy s_leaving = RetryPolicy.Prompt;

    /// <summary>
    /// Writes <paramref name="entry"/> locked with <paramref name="sessionId"/> (it dies with the session) and reads the
    /// whole queue in the same transaction. Sent without a caller's token: giving up waits for it, then leaves.
    /// </summary>
    public Task<TxnResponse> JoinAsync(string key, string entry, string sessionId) => client.TransactAsync(
        [TxnOperation.Lock(entry, sessionId, QueueLayout.EntryFlagValue), TxnOperation.GetTree(QueueLayout.Folder(key))],
        key, $"wait in the queue of the lock '{key}'", CancellationToken.None);

    /// <summary>Reads the queue of <paramref name="key"/>.</summary>
    public async Task<List<KvEntry>> ReadAsync(string key, CancellationToken cancellationToken) =>
        [.. (await client.GetKeyAsync(QueueLayout.Folder(key), recurse: true, 0, default, consistent: false, cancellationToken).ConfigureAwait(false)).Entries];

    /// <summary>The queue entries a transaction's <c>get-tree</c> of <paramref name="key"/>'s queue returned.</summary>
    public static List<KvEntry> EntriesIn(TxnResponse answer, string key)
    {
        var folder = QueueLayout.Folder(key);
        var entries = new Dictionary<string, KvEntry>(StringComparer.Ordinal);
        foreach (var entry in answer.Results?.Select(r => r.KV) ?? [])
        {
            if (entry is not null && entry.Key.StartsWith(folder, StringComparison.Ordinal))
            {
                entries[entry.Key] = entry;
            }
        }

        return [.. entries.Values];
    }

    /// <summary>Adds to a release's operations the removal of the holder's queue entry, when it came through the queue.</summary>
    public static List<TxnOperation> WithExit(List<TxnOperation> operations, string? queueEntry)
    {
        if (queueEntry is not null)
        {
            operations.Add(TxnOperation.Delete(queueEntry));
        }

        return operations;
    }

    /// <summary>
    /// Releases a key that another caller of this process waits for, and in the same transaction takes that caller a
    /// new place at the end of the key's queue (first come, first served: behind the processes already waiting, so that
    /// a process with many callers cannot keep the key from the others), so that it need not ask for one. Null when
    /// the key was touched since the grant: the plain release handles that.
    /// </summary>
    public async Task<QueueHandoff?> ReleaseTakingPlaceAsync(string key, LockSession session, ulong grantIndex)
    {
        var entry = QueueLayout.Entry(key, session.Id);
        var answer = await client.TransactAsync(
            [TxnOperation.DeleteCas(key, grantIndex), TxnOperation.Delete(entry), TxnOperation.Lock(entry, session.Id, QueueLayout.EntryFlagValue), TxnOperation.GetTree(QueueLayout.Folder(key))],
            key, $"release the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
        if (answer.Errors is { Count: > 0 })
        {
            return null;
        }

        Log.Released(logger, key);
        var entries = EntriesIn(answer, key);
        var own = entries.Find(e => e.Key == entry);
        return new QueueHandoff(entry, session.Id, own?.ModifyIndex ?? 0, entries);
    }

    /// <summary>
    /// Removes this process's entry from a key's queue, once the request that wrote it (<paramref name="pending"/>) has
    /// ended, so that the waiter behind it moves up; at <paramref name="index"/> only, when given, so that a newer entry
    /// under the same name is never touched.
    /// </summary>
    public async Task LeaveAsync(string key, string entry, Task? pending = null, ulong? index = null)
    {
        if (pending is not null)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Whatever it did, the entry is removed next.
            }
        }

        // Disposal stops the retries: it ends the session next, which releases the entry.
        await Retry.UntilDoneAsync(
            async () =>
            {
                var remove = index is { } at ? TxnOperation.DeleteCas(entry, at) : TxnOperation.Delete(entry);
                await client.TransactAsync([remove], key, $"leave the queue of the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
                return true;
            },
            s_leaving with { Budget = client.RequestTimeout * 3 },
            ex => Log.LeaveQueueFailed(logger, key, ex),
            static () => true,
            disposal.Token).ConfigureAwait(false);
    }

    /// <inheritdoc cref="LeaveAsync"/>
    public void LeaveInBackground(string key, string entry, Task? pending = null, ulong? index = null) =>
        background.Run(() => LeaveAsync(key, entry, pending, index));

    /// <summary>A place taken for a local caller that nobody used (see <see cref="KeyGates"/>): give it back.</summary>
    public void LeaveUnusedHandoff(string key, QueueHandoff handoff) =>
        LeaveInBackground(key, handoff.Entry, index: handoff.ModifyIndex);

    /// <summary>Removes queue entries nobody owns any more, each only as it was seen (best effort, in the background).</summary>
    public void RemoveDeadInBackground(string key, List<KvEntry> dead) => background.Run(async () =>
    {
        try
        {
            foreach (var batch in dead.Chunk(64))
            {
                await client.TransactAsync([.. batch.Select(e => TxnOperation.DeleteCas(e.Key, e.ModifyIndex))], key, $"tidy the queue of the lock '{key}'", CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ConsulLockException ex)
        {
            Log.LeaveQueueFailed(logger, key, ex);
        }
    });
}
