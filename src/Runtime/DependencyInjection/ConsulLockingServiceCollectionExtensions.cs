using ConsulLock.Aop.Common;
using ConsulLock.Aop.DependencyInjection;
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
    /// configured by <paramref name="configure"/>. The container disposes it, which releases its locks. The options are
    /// validated when the host starts (<c>ValidateOnStart</c>): bad ones stop it with an
    /// <see cref="OptionsValidationException"/> that names each option and its value.
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
    /// (<c>"15s"</c>) or <c>"00:00:15"</c>; <c>RequestTimeout</c> too. The options are validated when the host starts
    /// (<c>ValidateOnStart</c>): a value that cannot be read or is out of range stops it with an
    /// <see cref="OptionsValidationException"/> that names the setting by its path (<c>ConsulLock:SessionTtl</c>) and
    /// its value, never with a parser's exception.
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
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsulLock.Aop.ConsulLockOptions>, ConsulLockOptionsValidator>());
        services.TryAddSingleton(sp => new ConsulLock.Aop.ConsulLockProvider(
            sp.GetRequiredService<IOptions<ConsulLock.Aop.ConsulLockOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<ConsulLock.Aop.IConsulLockProvider>(sp => sp.GetRequiredService<ConsulLock.Aop.ConsulLockProvider>());
        return services;
    }

    // Read by hand rather than with the reflection-based binder, so the library stays trimming- and AOT-safe and
    // durations can be written as Consul writes them. Nothing here throws: what cannot be read is remembered and
    // reported by validation, named by its configuration path.
    private static void Bind(IConfiguration configuration, ConsulLock.Aop.ConsulLockOptions options)
    {
        options.ConfigurationPath = configuration is IConfigurationSection section ? section.Path : "";
        if (configuration["Address"] is { Length: > 0 } address)
        {
            options.TrySetAddress(address, options.NameOf("Address"));
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

        options.SessionTtl = Duration(configuration, options, "SessionTtl") ?? options.SessionTtl;
        options.LockDelay = Duration(configuration, options, "LockDelay") ?? options.LockDelay;
        options.SessionIdleTimeout = Duration(configuration, options, "SessionIdleTimeout") ?? options.SessionIdleTimeout;
        options.RequestTimeout = Duration(configuration, options, "RequestTimeout") ?? options.RequestTimeout;
        if (configuration["Behavior"] is { Length: > 0 } behavior)
        {
            if (Enum.TryParse<ConsulLock.Aop.SessionBehavior>(behavior, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
            {
                options.Behavior = parsed;
            }
            else
            {
                options.AddUnreadable("Behavior", behavior, "Release or Delete");
            }
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

    private static TimeSpan? Duration(IConfiguration configuration, ConsulLock.Aop.ConsulLockOptions options, string name)
    {
        var text = configuration[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!ConsulDuration.TryParse(text, out var value))
        {
            options.AddUnreadable(name, text, "a duration; write it like 15s, 250ms or 00:00:15");
            return null;
        }

        options.RememberWritten(name, text, value);
        return value;
    }
}
