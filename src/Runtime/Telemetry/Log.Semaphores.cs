using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Telemetry;

/// <summary>The semaphore recipe's log events (ids 50-59).</summary>
internal static partial class Log
{
    [LoggerMessage(50, LogLevel.Debug, "Acquired a permit of semaphore {Prefix} (session {SessionId}, fencing token {FencingToken}).")]
    public static partial void PermitAcquired(ILogger logger, string prefix, string sessionId, ulong fencingToken);

    [LoggerMessage(51, LogLevel.Debug, "Released the permit of session {SessionId} of semaphore {Prefix}.")]
    public static partial void PermitReleased(ILogger logger, string prefix, string sessionId);

    [LoggerMessage(52, LogLevel.Debug, "Waiting for semaphore {Prefix}: {WaitingFor}.")]
    public static partial void PermitWaiting(ILogger logger, string prefix, string waitingFor);

    [LoggerMessage(53, LogLevel.Warning, "Leaving semaphore {Prefix} failed; retrying (its holder entry is pruned by the next holder once its session ends).")]
    public static partial void PermitReleaseFailed(ILogger logger, string prefix, Exception exception);
}
