using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A semaphore as one read of its folder shows it: <c>.lock</c> with its live holders (a holder whose session holds no
/// key under the prefix is dead and pruned, as the Go client prunes), and the contenders of ours that wait, in the
/// order they came (the index that created their keys: Consul gives those out in commit order). Our waiters take
/// turns in that order, so that a freed permit wakes the waiter that can use it, not all of them.
/// </summary>
internal sealed class SemaphoreView
{
    private SemaphoreView(KvEntry? lockEntry, HashSet<string> holders, List<KvEntry> waiting, KvEntry? own, int limit)
    {
        LockEntry = lockEntry;
        Holders = holders;
        Waiting = waiting;
        Own = own;
        Limit = limit;
    }

    /// <summary><c>.lock</c> as read; null when absent (the first holder creates it).</summary>
    public KvEntry? LockEntry { get; }

    /// <summary>The live holders: those whose session still holds a key under the prefix.</summary>
    public HashSet<string> Holders { get; }

    /// <summary>Our contenders that wait (not holders), oldest first.</summary>
    public List<KvEntry> Waiting { get; }

    /// <summary>This contender's own key, when it is there and still locked by its session.</summary>
    public KvEntry? Own { get; }

    public int Limit { get; }

    /// <summary>Permits nobody holds now.</summary>
    public int Free => Math.Max(0, Limit - Holders.Count);

    /// <summary>
    /// Reads <paramref name="entries"/> (the folder of <paramref name="prefix"/>) for the contender of
    /// <paramref name="sessionId"/>. Throws <see cref="ConsulLockConflictException"/> when <c>.lock</c> is not a
    /// semaphore's or has another limit.
    /// </summary>
    public static SemaphoreView Read(string prefix, int limit, IEnumerable<KvEntry> entries, string sessionId)
    {
        var lockKey = SemaphoreLayout.LockKey(prefix);
        var folder = SemaphoreLayout.Folder(prefix);
        KvEntry? lockEntry = null;
        KvEntry? own = null;
        var alive = new HashSet<string>(StringComparer.Ordinal);
        var contenders = new List<KvEntry>();
        foreach (var entry in entries)
        {
            if (entry.Key == lockKey)
            {
                lockEntry = entry;
                continue;
            }

            if (!string.IsNullOrEmpty(entry.Session))
            {
                // The Go client counts a holder alive while its session holds any key under the prefix.
                alive.Add(entry.Session);
            }

            if (entry.Flags != SemaphoreLayout.FlagValue || string.IsNullOrEmpty(entry.Session)
                || entry.Key.IndexOf('/', folder.Length) >= 0 || entry.Key.Length <= folder.Length)
            {
                continue;
            }

            if (entry.Session == sessionId && entry.Key == SemaphoreLayout.ContenderKey(prefix, sessionId))
            {
                own = entry;
            }

            contenders.Add(entry);
        }

        var (_, holders) = SemaphoreLayout.Decode(prefix, limit, lockEntry);
        holders.RemoveWhere(h => !alive.Contains(h));
        var waiting = contenders
            .Where(c => !holders.Contains(c.Session!) && (c == own || SemaphoreLayout.IsOurs(c)))
            .OrderBy(c => c.CreateIndex)
            .ToList();
        return new SemaphoreView(lockEntry, holders, waiting, own, limit);
    }

    /// <summary>How many of our waiters came before this one (0: first); the count of all waiting when it is not waiting.</summary>
    public int PositionOf(string sessionId)
    {
        var index = Waiting.FindIndex(w => w.Session == sessionId);
        return index < 0 ? Waiting.Count : index;
    }

    /// <summary>
    /// The index to block on for any change in the folder: at least the highest ModifyIndex read, so a change after the
    /// read answers at once and none is missed (a deletion raises the folder's index past it too).
    /// </summary>
    public static ulong IndexOf(IEnumerable<KvEntry> entries, ulong readIndex) =>
        Math.Max(readIndex, entries.Select(e => e.ModifyIndex).DefaultIfEmpty(1UL).Max());
}
