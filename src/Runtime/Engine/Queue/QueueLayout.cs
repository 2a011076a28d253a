using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The contenders' queue of one lock key, kept in Consul beside it so that a release wakes one process, not all of
/// them (issue 9: no thundering herd). A process that has to wait writes an entry
/// <c>&lt;key&gt;/.consullock-queue/&lt;session&gt;</c>, locked with its session so that it dies with the process,
/// and watches only the entry just before its own (Apache Curator's lock recipe on ZooKeeper does the same). An entry
/// stays until its owner released the key or gave up, so the successor of the holder learns of the release from its
/// predecessor's entry vanishing, and the first waiter behind a holder that has no entry (a fast-path holder of ours
/// or Consul's Go client) watches the key itself. The lock key is still the only thing that excludes: the queue only
/// decides who tries when, so a stale or missing entry can cost time, never safety.
/// </summary>
internal static class QueueLayout
{
    /// <summary>The folder segment that holds a key's queue; <see cref="LockKey"/> refuses it in user keys.</summary>
    public const string Segment = ".consullock-queue";

    /// <summary>The flags of a queue entry, so that nobody mistakes it for a lock or for data (the Go client's lock flag, plus one).</summary>
    public const ulong EntryFlagValue = ConsulClient.LockFlagValue + 1;

    /// <summary>The folder of <paramref name="key"/>'s queue, with its trailing slash: a prefix that covers only that queue.</summary>
    public static string Folder(string key) => key + "/" + Segment + "/";

    /// <summary>The entry of <paramref name="sessionId"/> in <paramref name="key"/>'s queue.</summary>
    public static string Entry(string key, string sessionId) => Folder(key) + sessionId;

    /// <summary>
    /// Finds, in a queue's entries, the live entry just before <paramref name="ownEntry"/> (its predecessor, null when it is first),
    /// and the entries nobody owns any more: released by Consul when their session ended (no session left), or left by
    /// another session of this process (<paramref name="isOurs"/>), which inside the key's gate can only be an orphan.
    /// Entries are ordered by the index that created them, which Consul gives out in commit order.
    /// </summary>
    public static (KvEntry? Predecessor, List<KvEntry> Dead) FindPredecessor(IEnumerable<KvEntry> entries, string ownEntry, string ownSession, Func<string, bool> isOurs)
    {
        KvEntry? own = null;
        var live = new List<KvEntry>();
        var dead = new List<KvEntry>();
        foreach (var entry in entries)
        {
            if (entry.Key == ownEntry)
            {
                own = entry;
            }
            else if (string.IsNullOrEmpty(entry.Session) || (entry.Session != ownSession && isOurs(entry.Session)))
            {
                dead.Add(entry);
            }
            else
            {
                live.Add(entry);
            }
        }

        // Without its own entry (not written yet, or lost with its session) the reader would come last.
        var position = own?.CreateIndex ?? ulong.MaxValue;
        KvEntry? predecessor = null;
        foreach (var entry in live)
        {
            if (entry.CreateIndex < position && (predecessor is null || entry.CreateIndex > predecessor.CreateIndex))
            {
                predecessor = entry;
            }
        }

        return (predecessor, dead);
    }
}
