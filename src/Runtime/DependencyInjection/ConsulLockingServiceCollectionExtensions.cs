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
    /// <see cref="OptionsValidationException"/> that names each option and its value. To read configuration too, use
    /// <see cref="AddConsulLocking(IServiceCollection, IConfiguration, Action{ConsulLock.Aop.ConsulLockOptions})"/>, or call
    /// <see cref="ConsulLock.Aop.ConsulLockOptions.Bind"/> in <paramref name="configure"/>: .NET's binder
    /// (<c>section.Bind(o)</c>) cannot read durations in Consul's notation (<c>"10s"</c>), and when it fails the host stops
    /// with an <see cref="OptionsValidationException"/> that says so.
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
    /// <paramref name="configuration"/> (for example <c>configuration.GetSection("ConsulLock")</c>) as
    /// <see cref="ConsulLock.Aop.ConsulLockOptions.Bind"/> reads them: <c>Address</c>, <c>Token</c>, <c>Datacenter</c>,
    /// <c>KeyPrefix</c>, <c>SessionTtl</c>, <c>LockDelay</c>, <c>Behavior</c>, <c>SessionChecks</c> (a list),
    /// <c>SessionName</c>, <c>SessionIdleTimeout</c>, <c>RequestTimeout</c>, <c>MaxConnections</c>. Durations take
    /// Consul's notation (<c>"15s"</c>) or <c>"00:00:15"</c>. The options are validated when the host starts
    /// (<c>ValidateOnStart</c>): a value that cannot be read or is out of range stops it with an
    /// <see cref="OptionsValidationException"/> that names the setting by its path (<c>ConsulLock:SessionTtl</c>) and
    /// its value, never with a parser's exception.
    /// </summary>
    public static IServiceCollection AddConsulLocking(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().Configure(options => options.Bind(configuration));
        return AddProvider(services);
    }

    /// <summary>
    /// Registers a singleton <see cref="ConsulLock.Aop.ConsulLockProvider"/> whose options are read from
    /// <paramref name="configuration"/> as <see cref="AddConsulLocking(IServiceCollection, IConfiguration)"/> reads them
    /// (durations in Consul's notation included), then adjusted by <paramref name="configure"/>: configuration and code
    /// in one call, for example <c>AddConsulLocking(configuration.GetSection("ConsulLock"), o =&gt; o.SessionName = "orders")</c>.
    /// The result is validated once when the host starts: one <see cref="OptionsValidationException"/> names every bad
    /// setting, a value from configuration by its path (<c>ConsulLock:SessionTtl</c>), a value set by
    /// <paramref name="configure"/> by its property (<c>ConsulLockOptions.SessionTtl</c>).
    /// </summary>
    public static IServiceCollection AddConsulLocking(
        this IServiceCollection services, IConfiguration configuration, Action<ConsulLock.Aop.ConsulLockOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().Configure(options =>
        {
            options.Bind(configuration);
            configure(options);
        });
        return AddProvider(services);
    }

    private static IServiceCollection AddProvider(IServiceCollection services)
    {
        services.AddOptions<ConsulLock.Aop.ConsulLockOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsulLock.Aop.ConsulLockOptions>, ConsulLockOptionsValidator>());
        services.TryAddTransient<IOptionsFactory<ConsulLock.Aop.ConsulLockOptions>, ConsulLockOptionsFactory>();
        services.TryAddSingleton(sp => new ConsulLock.Aop.ConsulLockProvider(
            sp.GetRequiredService<IOptions<ConsulLock.Aop.ConsulLockOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<ConsulLock.Aop.IConsulLockProvider>(sp => sp.GetRequiredService<ConsulLock.Aop.ConsulLockProvider>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, ConsulLockWarmUp>());
        return services;
    }
}
