using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Telemetry;

/// <summary>The library's log events. Keys and session ids are logged; the ACL token never is.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Acquired lock {Key} (session {SessionId}, fencing token {FencingToken}).")]
    public static partial void Acquired(ILogger logger, string key, string sessionId, ulong fencingToken);

    [LoggerMessage(2, LogLevel.Debug, "Released lock {Key}.")]
    public static partial void Released(ILogger logger, string key);

    [LoggerMessage(3, LogLevel.Warning, "Lost lock {Key}: {Reason}.")]
    public static partial void Lost(ILogger logger, string key, string reason);

    [LoggerMessage(4, LogLevel.Debug, "Created session {SessionId} (TTL {Ttl}, lock-delay {LockDelay}, {Behavior}).")]
    public static partial void SessionCreated(ILogger logger, string sessionId, TimeSpan ttl, TimeSpan lockDelay, SessionBehavior behavior);

    [LoggerMessage(5, LogLevel.Debug, "Destroyed session {SessionId}.")]
    public static partial void SessionDestroyed(ILogger logger, string sessionId);

    [LoggerMessage(6, LogLevel.Warning, "Renewing session {SessionId} failed; retrying until its TTL runs out.")]
    public static partial void RenewFailed(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Session {SessionId} is lost: {Reason}.")]
    public static partial void SessionLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(8, LogLevel.Warning, "Releasing lock {Key} failed; retrying until it is released or its session is gone.")]
    public static partial void ReleaseFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "Watching lock {Key} failed; retrying (not a loss: the session's renewals decide).")]
    public static partial void WatchFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, "Destroying session {SessionId} failed; Consul will invalidate it when its TTL runs out.")]
    public static partial void DestroyFailed(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(11, LogLevel.Warning, "Consul's index went backwards for lock {Key} (from {From} to {To}): Consul lost or restored its data; fencing tokens restart lower, so a store that fences must be reset. Every watcher of the key re-checks it.")]
    public static partial void IndexWentBackwards(ILogger logger, string key, ulong from, ulong to);

    [LoggerMessage(13, LogLevel.Warning, "A background release or clean-up failed; the session's end will release what it held.")]
    public static partial void BackgroundFailed(ILogger logger, Exception exception);

    [LoggerMessage(14, LogLevel.Warning, "Leaving the queue of lock {Key} failed; waiters behind it wait until its session ends.")]
    public static partial void LeaveQueueFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(12, LogLevel.Error, "A callback registered on the lost-token of lock {Key} threw; other callbacks and other locks are not affected.")]
    public static partial void LostCallbackFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(20, LogLevel.Warning, "Waiting for lock {Key} for {Seconds:0} s: {WaitingFor}.")]
    public static partial void WaitStuck(ILogger logger, string key, double seconds, string waitingFor);

    [LoggerMessage(21, LogLevel.Debug, "Waiting for lock {Key}: {WaitingFor}.")]
    public static partial void Waiting(ILogger logger, string key, string waitingFor);

    [LoggerMessage(22, LogLevel.Debug, "The answer to creating session '{SessionName}' was lost; Consul may have made it: looking for it to destroy it.")]
    public static partial void SessionCreateInDoubt(ILogger logger, string sessionName, Exception exception);

    [LoggerMessage(23, LogLevel.Information, "Destroyed session {SessionId} ('{SessionName}'), made by a create whose answer was lost.")]
    public static partial void SessionInDoubtDestroyed(ILogger logger, string sessionId, string sessionName);

    [LoggerMessage(24, LogLevel.Warning, "Could not make sure that session '{SessionName}', whose create answer was lost, is gone; if Consul made it, it ends by its TTL (up to 2 x TTL) and holds no key.")]
    public static partial void SessionInDoubtGaveUp(ILogger logger, string sessionName, Exception? exception);

    [LoggerMessage(25, LogLevel.Debug, "Lock {Key} is held until {Until:O} (MinHold) by session {SessionId}, which Consul ends then even if this process does not.")]
    public static partial void HeldUntil(ILogger logger, string key, DateTimeOffset until, string sessionId);

    [LoggerMessage(26, LogLevel.Warning, "Handing lock {Key} over to a session that keeps it until {Until:O} (MinHold) failed; this process keeps it until then, and a crash meanwhile frees it sooner.")]
    public static partial void HoldHandOverFailed(ILogger logger, string key, DateTimeOffset until, Exception exception);

    [LoggerMessage(27, LogLevel.Debug, "The minimum hold of lock {Key} ended; its key is free.")]
    public static partial void HoldEnded(ILogger logger, string key);

    [LoggerMessage(28, LogLevel.Warning, "Consul answered that it does not know session {SessionId}, but a consistent read did not confirm it (a leader not yet caught up); renewing again.")]
    public static partial void RenewNotFoundNotConfirmed(ILogger logger, string sessionId);

    [LoggerMessage(29, LogLevel.Information, "Skipped the body of a [ConsulLocked] method: the lock {Key} was held elsewhere for {WaitTimeout} (its WaitTimeout; OnTimeout = Skip).")]
    public static partial void Skipped(ILogger logger, string key, string waitTimeout);

    [LoggerMessage(40, LogLevel.Information, "Leading {Key}: a term began (fencing token {FencingToken}, session {SessionId}).")]
    public static partial void TermStarted(ILogger logger, string key, ulong fencingToken, string sessionId);

    [LoggerMessage(41, LogLevel.Warning, "Lost the leadership of {Key} (term with fencing token {FencingToken}); campaigning again in {Pause}.")]
    public static partial void TermLost(ILogger logger, string key, ulong fencingToken, TimeSpan pause);

    [LoggerMessage(42, LogLevel.Information, "Resigned the leadership of {Key} (term with fencing token {FencingToken}).")]
    public static partial void Resigned(ILogger logger, string key, ulong fencingToken);

    [LoggerMessage(43, LogLevel.Warning, "Campaigning for {Key} failed; trying again in {Pause}.")]
    public static partial void CampaignFailed(ILogger logger, string key, TimeSpan pause, Exception exception);
}
