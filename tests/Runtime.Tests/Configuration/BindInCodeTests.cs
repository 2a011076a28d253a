using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ConsulLock.Aop.Tests.Configuration;

/// <summary>
/// Options taken from configuration and adjusted in code (issue 19): durations in Consul's notation must be read, or a
/// failure must explain itself in our words, whichever way the configuration reaches the options.
/// </summary>
public sealed class BindInCodeTests
{
    [Fact]
    public async Task Binding_with_the_dotnet_binder_inside_the_action_stops_the_host_with_our_explanation_not_a_raw_binder_error()
    {
        // As reported: the host stopped with "Failed to convert configuration value '10s' at 'ConsulLock:SessionTtl'
        // to type 'System.TimeSpan'" and nothing saying what to do.
        using var host = HostWith(
            new() { ["ConsulLock:SessionTtl"] = "10s" },
            (services, section) => services.AddConsulLocking(o =>
            {
                section.Bind(o);
                o.SessionName = "orders";
            }));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        var failure = Assert.Single(error.Failures);
        Assert.Contains("10s", failure, StringComparison.Ordinal);
        Assert.Contains("ConsulLock:SessionTtl", failure, StringComparison.Ordinal);
        Assert.Contains("AddConsulLocking(section, options => ...)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_one_call_form_reads_durations_in_Consuls_notation_then_applies_the_code()
    {
        using var host = HostWith(
            new()
            {
                ["ConsulLock:SessionTtl"] = "10s",
                ["ConsulLock:LockDelay"] = "250ms",
                ["ConsulLock:RequestTimeout"] = "1m30s",
                ["ConsulLock:SessionName"] = "from-configuration",
                ["ConsulLock:MaxConnections"] = "8",
            },
            (services, section) => services.AddConsulLocking(section, o =>
            {
                o.SessionName = "orders";
                o.LockDelay += TimeSpan.FromMilliseconds(250);
            }));

        await host.StartAsync();
        var options = host.Services.GetRequiredService<IOptions<ConsulLockOptions>>().Value;
        await host.StopAsync();

        Assert.Equal(TimeSpan.FromSeconds(10), options.SessionTtl);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.LockDelay);
        Assert.Equal(TimeSpan.FromSeconds(90), options.RequestTimeout);
        Assert.Equal("orders", options.SessionName);
        Assert.Equal(8, options.MaxConnections);
    }

    [Fact]
    public async Task The_one_call_form_is_validated_once_naming_configuration_values_by_path_and_code_values_by_property()
    {
        using var host = HostWith(
            new()
            {
                ["ConsulLock:SessionTtl"] = "9s",
                ["ConsulLock:LockDelay"] = "15s",
                ["ConsulLock:RequestTimeout"] = "fifteen",
            },
            (services, section) => services.AddConsulLocking(section, o =>
            {
                o.LockDelay = TimeSpan.FromMinutes(2);            // overrides a good configuration value with a bad one
                o.RequestTimeout = TimeSpan.FromSeconds(5);       // overrides an unreadable one with a good one
                o.MaxConnections = 1;
            }));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(3, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.StartsWith("ConsulLock:SessionTtl = '9s' is out of range", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("ConsulLockOptions.LockDelay = 00:02:00 is out of range", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("ConsulLockOptions.MaxConnections = 1 is out of range", StringComparison.Ordinal));
        Assert.DoesNotContain("RequestTimeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_options_pattern_with_the_dotnet_binder_stops_the_host_with_our_explanation_too()
    {
        using var host = HostWith(
            new() { ["ConsulLock:LockDelay"] = "5s" },
            (services, section) =>
            {
                services.Configure<ConsulLockOptions>(section);
                services.AddConsulLocking(_ => { });
            });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        var failure = Assert.Single(error.Failures);
        Assert.Contains("ConsulLock:LockDelay", failure, StringComparison.Ordinal);
        Assert.Contains("5s", failure, StringComparison.Ordinal);
        Assert.Contains("reads a TimeSpan only as \"00:00:10\"", failure, StringComparison.Ordinal);
        Assert.Contains("options.Bind(section)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_binder_failure_on_another_type_is_explained_without_speaking_of_durations()
    {
        using var host = HostWith(
            new() { ["ConsulLock:Behavior"] = "Sometimes" },
            (services, section) => services.AddConsulLocking(o => section.Bind(o)));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        var failure = Assert.Single(error.Failures);
        Assert.Contains("ConsulLock:Behavior", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("00:00:10", failure, StringComparison.Ordinal);
        Assert.Contains("AddConsulLocking(section, options => ...)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_Bind_inside_the_action_reads_Consuls_notation()
    {
        using var host = HostWith(
            new() { ["ConsulLock:SessionTtl"] = "10s", ["ConsulLock:SessionIdleTimeout"] = "0s" },
            (services, section) => services.AddConsulLocking(o =>
            {
                o.Bind(section);
                o.SessionName = "orders";
            }));

        await host.StartAsync();
        var options = host.Services.GetRequiredService<IOptions<ConsulLockOptions>>().Value;
        await host.StopAsync();

        Assert.Equal(TimeSpan.FromSeconds(10), options.SessionTtl);
        Assert.Equal(TimeSpan.Zero, options.SessionIdleTimeout);
        Assert.Equal("orders", options.SessionName);
    }

    [Fact]
    public async Task Options_Bind_without_a_container_reports_bad_values_through_the_providers_constructor_by_path()
    {
        var configuration = Configuration(new() { ["Locking:Consul:SessionTtl"] = "fifteen", ["Locking:Consul:MaxConnections"] = "many" });
        var options = new ConsulLockOptions();
        options.Bind(configuration.GetSection("Locking:Consul"));

        var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(options));
        Assert.Contains("Locking:Consul:SessionTtl = 'fifteen' is not a duration", error.Message, StringComparison.Ordinal);
        Assert.Contains("Locking:Consul:MaxConnections = 'many' is not a whole number", error.Message, StringComparison.Ordinal);

        options.Bind(Configuration(new() { ["SessionTtl"] = "20s" }));
        options.MaxConnections = 16;
        await using var provider = new ConsulLockProvider(options);
        Assert.Equal(TimeSpan.FromSeconds(20), options.SessionTtl);
    }

    [Fact]
    public void The_arguments_are_required()
    {
        var services = new ServiceCollection();
        var section = Configuration([]).GetSection("ConsulLock");

        Assert.Throws<ArgumentNullException>(() => services.AddConsulLocking(null!, _ => { }));
        Assert.Throws<ArgumentNullException>(() => services.AddConsulLocking(section, null!));
        Assert.Throws<ArgumentNullException>(() => new ConsulLockOptions().Bind(null!));
    }

    private static IConfigurationRoot Configuration(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

    private static IHost HostWith(Dictionary<string, string?> settings, Action<IServiceCollection, IConfigurationSection> register)
    {
        var builder = Host.CreateEmptyApplicationBuilder(null);
        builder.Configuration.AddInMemoryCollection(settings);
        register(builder.Services, builder.Configuration.GetSection("ConsulLock"));
        return builder.Build();
    }
}
