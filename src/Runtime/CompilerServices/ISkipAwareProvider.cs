using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.CompilerServices;

/// <summary>
/// A provider that can tell the acquire of a <c>[ConsulLocked]</c> method with <c>OnTimeout = Skip</c> from a plain
/// <see cref="IConsulLockProvider.TryAcquireAsync"/>, so that its telemetry says "skipped" where a skip is meant and not
/// "timeout", and that lends <see cref="LockedMethodRunner"/> its logger to report the skip. The runner counts a skip on
/// any provider; on one without this interface it has nowhere to log it.
/// </summary>
internal interface ISkipAwareProvider
{
    /// <summary>The logger of the provider's own events; a skip is one more.</summary>
    ILogger Logger { get; }

    /// <summary>
    /// <see cref="IConsulLockProvider.TryAcquireAsync"/> for a caller that skips its work when <paramref name="timeout"/>
    /// passes: the acquire's outcome is <c>skipped</c>, and it does not count in <c>consullock.timeouts</c>.
    /// </summary>
    ValueTask<IConsulLockHandle?> TryAcquireOrSkipAsync(string key, TimeSpan timeout, ConsulLockRequest? request, CancellationToken cancellationToken);

    /// <summary>The same for a permit of a <c>[ConsulSemaphore]</c> method.</summary>
    ValueTask<IConsulLockHandle?> TryAcquireSemaphoreOrSkipAsync(string prefix, int limit, TimeSpan timeout, ConsulLockRequest? request, CancellationToken cancellationToken);
}
