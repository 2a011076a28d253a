namespace ConsulLock.Aop.Tool.Output;

/// <summary>
/// A holder as <c>--json</c> writes it. Its own type rather than <see cref="ConsulLockHolder"/>, so that the names
/// scripts read are fixed here and do not move with the library's API.
/// </summary>
internal sealed record HolderDocument(
    string Key, string Instance, string Session, string? Node, DateTimeOffset? Acquired, ulong FencingToken, string? TraceParent, int Waiters)
{
    public static HolderDocument From(ConsulLockHolder holder) => new(
        holder.Key, holder.InstanceName, holder.SessionId, holder.Node, holder.AcquiredAt, holder.FencingToken, holder.TraceParent, holder.Waiters);
}

/// <summary>One line of <c>watch --json</c>: when the change was seen, the key, and its holder (null when free).</summary>
internal sealed record WatchEvent(DateTimeOffset Seen, string Key, HolderDocument? Holder);

/// <summary>What <c>release --force --json</c> did: the session destroyed, whose it was, and its lock-delay.</summary>
internal sealed record ReleaseReport(string Key, string Session, string Instance, string? Node, ulong FencingToken, double? LockDelaySeconds, string? Behavior);
