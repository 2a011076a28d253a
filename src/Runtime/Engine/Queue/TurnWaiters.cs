using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Completes when a queue entry is deleted, no longer held by the session that wrote it, or written anew (its owner
/// released and queued again under the same name: it is behind us now).
/// </summary>
internal sealed class EntryGone(KvEntry entry) : KeyWaiter
{
    /// <summary>The entry as its session's end left it (released, not deleted).</summary>
    public KvEntry? Left { get; private set; }

    protected override bool Ends(KvEntry? now)
    {
        if (now is not null && now.Session == entry.Session && now.CreateIndex == entry.CreateIndex)
        {
            return false;
        }

        Left = now is not null && string.IsNullOrEmpty(now.Session) ? now : null;
        return true;
    }
}

/// <summary>Completes when a waited-on key is free or has changed since it was seen busy.</summary>
internal sealed class KeyChange(ulong seenModifyIndex) : KeyWaiter
{
    /// <summary>
    /// How to try once the change came: lock at the free key's index (or as absent), or read it again when it showed
    /// the key held or holding other data.
    /// </summary>
    public NextTry Next { get; private set; } = NextTry.ReadKey;

    protected override bool Ends(KvEntry? entry)
    {
        if (entry is not null && !string.IsNullOrEmpty(entry.Session) && entry.ModifyIndex == seenModifyIndex)
        {
            return false;
        }

        Next = entry is null ? NextTry.LockIfAbsent
            : LockKeyFormat.IsFreeLock(entry) ? NextTry.LockAt(entry.ModifyIndex)
            : NextTry.ReadKey;
        return true;
    }
}
