using ConsulLock.Aop.Common;
using ConsulLock.Aop.Engine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers ConsulLock.Aop with a service collection.</summary>
public static class ConsulLockingServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ConsulLock.Aop.ConsulLockProvider"/> as <see cref="ConsulLock.Aop.IConsulLockProvider"/>,
    /// configured by <paramref name="configure"/>. The container disposes it, which releases its locks.
    /// </summary>
    public static IServiceCollection AddConsulLocking(this IServiceCollection services, Action<ConsulLock.Aop.ConsulLockOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().Configure(configure);
        return AddProvider(services);
    }

    /// <summary>
    /// Registers a singleton <see cref="ConsulLock.Aop.ConsulLockProvider"/> whose options are read from
    /// <paramref name="configuration"/> (for example <c>configuration.GetSection("ConsulLock")</c>): <c>Address</c>,
    /// <c>Token</c>, <c>Datacenter</c>, <c>KeyPrefix</c>, <c>SessionTtl</c>, <c>LockDelay</c>, <c>Behavior</c>,
    /// <c>SessionChecks</c> (a list), <c>SessionName</c>, <c>SessionIdleTimeout</c>. Durations take Consul's notation
    /// (<c>"15s"</c>) or <c>"00:00:15"</c>.
    /// </summary>
    public static IServiceCollection AddConsulLocking(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().Configure(options => Bind(configuration, options));
        return AddProvider(services);
    }

    private static IServiceCollection AddProvider(IServiceCollection services)
    {
        services.TryAddSingleton(sp => new ConsulLock.Aop.ConsulLockProvider(
            sp.GetRequiredService<IOptions<ConsulLock.Aop.ConsulLockOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<ConsulLock.Aop.IConsulLockProvider>(sp => sp.GetRequiredService<ConsulLock.Aop.ConsulLockProvider>());
        return services;
    }

    // Read by hand rather than with the reflection-based binder, so the library stays trimming- and AOT-safe and
    // durations can be written as Consul writes them.
    private static void Bind(IConfiguration configuration, ConsulLock.Aop.ConsulLockOptions options)
    {
        if (configuration["Address"] is { Length: > 0 } address)
        {
            options.Address = address.Contains("://", StringComparison.Ordinal) ? new Uri(address) : new Uri("http://" + address);
        }

        if (configuration["Token"] is { Length: > 0 } token)
        {
            options.Token = token;
        }

        if (configuration["Datacenter"] is { Length: > 0 } datacenter)
        {
            options.Datacenter = datacenter;
        }

        if (configuration["KeyPrefix"] is { } prefix)
        {
            options.KeyPrefix = prefix;
        }

        if (configuration["SessionName"] is { Length: > 0 } name)
        {
            options.SessionName = name;
        }

        options.SessionTtl = Duration(configuration, "SessionTtl") ?? options.SessionTtl;
        options.LockDelay = Duration(configuration, "LockDelay") ?? options.LockDelay;
        options.SessionIdleTimeout = Duration(configuration, "SessionIdleTimeout") ?? options.SessionIdleTimeout;
        if (configuration["Behavior"] is { Length: > 0 } behavior)
        {
            options.Behavior = Enum.TryParse<ConsulLock.Aop.SessionBehavior>(behavior, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
                ? parsed
                : throw new InvalidOperationException($"Configuration value 'Behavior' = '{behavior}' is not Release or Delete.");
        }

        var checks = configuration.GetSection("SessionChecks").GetChildren().Select(c => c.Value).OfType<string>().ToList();
        if (checks.Count > 0)
        {
            options.SessionChecks.Clear();
            foreach (var check in checks)
            {
                options.SessionChecks.Add(check);
            }
        }
    }

    private static TimeSpan? Duration(IConfiguration configuration, string name)
    {
        var text = configuration[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return ConsulDuration.TryParse(text, out var value)
            ? value
            : throw new InvalidOperationException($"Configuration value '{name}' = '{text}' is not a duration; write it like 15s, 250ms or 00:00:15.");
    }
}
