using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>What a lock key looks like in Consul (the Go client's format), and when a held one is no longer ours.</summary>
internal static class LockKeyFormat
{
    /// <summary>
    /// Whether a key is a lock, ours to take when free: it carries the Go client's lock flags, or it was locked before
    /// (LockIndex above 0) and now holds nothing, no session and no value, which is what an operator's plain
    /// <c>?release=</c> without <c>&amp;flags=</c> leaves of a lock. A key with data, or a semaphore, is never one.
    /// </summary>
    public static bool IsLockKey(KvEntry entry) =>
        entry.Flags == ConsulClient.LockFlagValue
        || (entry.Flags != ConsulClient.SemaphoreFlagValue && entry.LockIndex > 0 && string.IsNullOrEmpty(entry.Session) && string.IsNullOrEmpty(entry.Value));

    /// <summary>Whether <paramref name="entry"/> is a lock key that nobody holds: a lock may be taken at its index.</summary>
    public static bool IsFreeLock(KvEntry entry) => string.IsNullOrEmpty(entry.Session) && IsLockKey(entry);

    /// <summary>The lock's rule for <see cref="LossMonitor"/>: null while <paramref name="sessionId"/> holds the key, else why not.</summary>
    public static string? LossReason(KvEntry? entry, string sessionId) =>
        entry is null ? "the key was deleted"
        : string.Equals(entry.Session, sessionId, StringComparison.Ordinal) ? null
        : string.IsNullOrEmpty(entry.Session) ? "the key was released by someone else"
        : "the key was taken by another session";

    public static ConsulLockConflictException Conflict(string key, KvEntry entry) => new(
        entry.Flags == ConsulClient.SemaphoreFlagValue
            ? $"The key '{key}' is a Consul semaphore, not a lock; a lock cannot be taken on it."
            : $"The key '{key}' holds other data (flags {entry.Flags}), not a lock; it is left untouched. Use another key for the lock.",
        key);
}
