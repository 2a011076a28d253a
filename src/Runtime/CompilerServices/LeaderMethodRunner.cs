using System.ComponentModel;

namespace ConsulLock.Aop.CompilerServices;

/// <summary>
/// Runs a <see cref="ConsulLeaderAttribute"/> method: the generated implementation is one call to <c>RunAsync</c>,
/// which campaigns through <see cref="IConsulLockProvider.LeadAsync"/> and calls the body for each term.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LeaderMethodRunner
{
    /// <summary>Campaigns for <paramref name="key"/> until <paramref name="cancellationToken"/> fires; <paramref name="body"/> runs each term.</summary>
    /// <param name="provider">The provider the method found; <see cref="ConsulLocking.Default"/> when null.</param>
    /// <param name="key">The leadership key, built from the arguments.</param>
    /// <param name="settings">The attribute's settings (only its request counts: a campaign waits until it leads).</param>
    /// <param name="body">A term: its context's <see cref="ConsulLockContext.CancellationToken"/> fires when leadership is lost or the caller cancels.</param>
    /// <param name="cancellationToken">Ends the campaign.</param>
    public static Task RunAsync(
        IConsulLockProvider? provider, string key, LockedMethodSettings settings, Func<ConsulLockContext, Task> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(body);
        provider ??= ConsulLocking.Default ?? throw new InvalidOperationException(
            $"No IConsulLockProvider is configured for the [ConsulLeader] method campaigning for '{key}'. Give the containing type a " +
            "field, property or primary-constructor parameter of type IConsulLockProvider (for example injected after " +
            "services.AddConsulLocking(...)), or set ConsulLocking.Default at start-up.");
        return provider.LeadAsync(key, (term, _) => body(term), settings.Request, cancellationToken);
    }
}
