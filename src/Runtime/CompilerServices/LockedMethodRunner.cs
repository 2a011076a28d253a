using System.ComponentModel;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Telemetry;

namespace ConsulLock.Aop.CompilerServices;

/// <summary>
/// Runs the body of a <see cref="ConsulLockedAttribute"/> method under its lock. The generated implementation of each
/// such method is one call to <c>RunAsync</c>; everything that is not specific to the method lives here, where it is
/// written and tested once.
/// </summary>
/// <remarks>
/// Each <c>RunAsync</c> acquires the lock (waiting as <see cref="LockedMethodSettings"/> says), calls the body with a
/// <see cref="ConsulLockContext"/> whose token fires when the caller cancels or the lock is lost, and releases the lock
/// when the body's task ends, whether it succeeded, threw or was cancelled. When the lock was lost and the body ended
/// by cancellation, the caller gets <see cref="ConsulLockLostException"/>.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LockedMethodRunner
{
    /// <summary>Runs a body that returns <see cref="Task"/>.</summary>
    public static async Task RunAsync(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings,
        Func<ConsulLockContext, Task> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        await RunCoreAsync<bool>(provider, key, settings, async context =>
        {
            await body(context).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a body that returns <see cref="Task{TResult}"/>.</summary>
    public static Task<TResult> RunAsync<TResult>(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings,
        Func<ConsulLockContext, Task<TResult>> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        return RunCoreAsync(provider, key, settings, context => new ValueTask<TResult>(body(context)), cancellationToken).AsTask();
    }

    /// <summary>Runs a body that returns <see cref="ValueTask"/>.</summary>
    public static async ValueTask RunAsync(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings,
        Func<ConsulLockContext, ValueTask> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        await RunCoreAsync<bool>(provider, key, settings, async context =>
        {
            await body(context).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a body that returns <see cref="ValueTask{TResult}"/>.</summary>
    public static ValueTask<TResult> RunAsync<TResult>(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings,
        Func<ConsulLockContext, ValueTask<TResult>> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        return RunCoreAsync(provider, key, settings, body, cancellationToken);
    }

    private static async ValueTask<TResult> RunCoreAsync<TResult>(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings,
        Func<ConsulLockContext, ValueTask<TResult>> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(settings);
        provider ??= ConsulLocking.Default ?? throw NoProvider(key);

        var skip = settings.OnTimeout == LockTimeoutBehavior.Skip;
        var handle = settings.SemaphoreLimit is { } limit
            ? await AcquirePermitAsync(provider, key, limit, settings, skip, cancellationToken).ConfigureAwait(false)
            : settings.WaitTimeout is not { } timeout
            ? await provider.AcquireAsync(key, settings.Request, cancellationToken).ConfigureAwait(false)
            : skip && provider is ISkipAwareProvider skipAware
                ? await skipAware.TryAcquireOrSkipAsync(key, timeout, settings.Request, cancellationToken).ConfigureAwait(false)
                : await provider.TryAcquireAsync(key, timeout, settings.Request, cancellationToken).ConfigureAwait(false);

        if (handle is null)
        {
            var fullKey = provider is IKeyFolderProvider folder ? folder.FullKey(key) : key;
            if (!skip)
            {
                throw new ConsulLockTimeoutException(fullKey, settings.WaitTimeout.GetValueOrDefault());
            }

            // The caller sees default(TResult), which the declared result says is "skipped" (false, null; CLA011 sees
            // to it); operators see the skip here.
            LockTelemetry.Skips.Add(1);
            if (provider is ISkipAwareProvider { Logger: var logger })
            {
                Log.Skipped(logger, fullKey, ConsulDuration.Format(settings.WaitTimeout.GetValueOrDefault()));
            }

            return default!;
        }

        await using (handle.ConfigureAwait(false))
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handle.LostToken);
            try
            {
                return await body(new ConsulLockContext(handle, linked.Token)).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (handle.LostToken.IsCancellationRequested && ex is not ConsulLockLostException)
            {
                // Our handles know why (deleted, taken, session gone, no renewal for a TTL, the hold limit); say it.
                var loss = handle as Engine.ILossReport;
                throw new ConsulLockLostException(handle.Key, loss?.LostReason, loss?.HoldLimitReached == true, ex, handle.LostToken);
            }
        }
    }

    private static async ValueTask<IConsulLockHandle?> AcquirePermitAsync(
        IConsulLockProvider provider, string prefix, int limit, LockedMethodSettings settings, bool skip, CancellationToken cancellationToken) =>
        settings.WaitTimeout is not { } timeout
            ? await provider.AcquireSemaphoreAsync(prefix, limit, settings.Request, cancellationToken).ConfigureAwait(false)
            : skip && provider is ISkipAwareProvider skipAware
                ? await skipAware.TryAcquireSemaphoreOrSkipAsync(prefix, limit, timeout, settings.Request, cancellationToken).ConfigureAwait(false)
                : await provider.TryAcquireSemaphoreAsync(prefix, limit, timeout, settings.Request, cancellationToken).ConfigureAwait(false);

    private static InvalidOperationException NoProvider(string key) => new(
        $"No IConsulLockProvider is configured for the generated method locking '{key}'. Give the containing type a " +
        "field, property or primary-constructor parameter of type IConsulLockProvider (for example injected after " +
        "services.AddConsulLocking(...)), or set ConsulLocking.Default at start-up.");
}
