using ConsulLock.Aop;
using ConsulLock.Aop.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the ConsulLock.Aop health check to a health checks builder.</summary>
public static class ConsulLockHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a <see cref="ConsulLockHealthCheck"/> of the <see cref="ConsulLockProvider"/> registered with
    /// <c>services.AddConsulLocking(...)</c>: unhealthy when Consul cannot be reached or names no leader, degraded
    /// when a session's renewal is overdue.
    /// </summary>
    /// <param name="builder">The builder from <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name in health reports.</param>
    /// <param name="failureStatus">What to report when Consul cannot be reached; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags to filter checks by (for example to separate readiness from liveness).</param>
    /// <param name="timeout">How long to wait for Consul; <see cref="ConsulLockHealthCheck.DefaultTimeout"/> when null.</param>
    public static IHealthChecksBuilder AddConsulLock(
        this IHealthChecksBuilder builder, string name = "consul-lock", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (timeout is { } value && value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), value, "The timeout must be positive.");
        }

        return builder.Add(new HealthCheckRegistration(
            name,
            services => new ConsulLockHealthCheck(
                services.GetService<ConsulLockProvider>()
                    ?? throw new InvalidOperationException("AddConsulLock() checks the provider registered by services.AddConsulLocking(...); none is registered."),
                timeout),
            failureStatus,
            tags));
    }
}
