using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ConsulLock.Aop.Tests.Configuration;

/// <summary>
/// Bad options stop the host when it starts (not the first locked request), with an
/// <see cref="OptionsValidationException"/> that names the option and the bad value; no raw parser exception.
/// </summary>
public sealed class OptionsValidationTests
{
    /// <summary>Bad appsettings values: the value, what the error must name.</summary>
    public static TheoryData<string, string, string> BadSettings => new()
    {
        { "Address", "not a url", "ConsulLock:Address" },
        { "Address", "ftp://consul:8500", "ConsulLock:Address" },
        { "Address", "http://", "ConsulLock:Address" },
        { "Address", "::::", "ConsulLock:Address" },
        { "Address", "http://[::1", "ConsulLock:Address" },
        { "SessionTtl", "00:00:05", "ConsulLock:SessionTtl" },
        { "SessionTtl", "9s", "ConsulLock:SessionTtl" },
        { "SessionTtl", "25h", "ConsulLock:SessionTtl" },
        { "SessionTtl", "-15s", "ConsulLock:SessionTtl" },
        { "SessionTtl", "fifteen", "ConsulLock:SessionTtl" },
        { "SessionTtl", "15", "ConsulLock:SessionTtl" },
        { "LockDelay", "61s", "ConsulLock:LockDelay" },
        { "LockDelay", "-00:00:01", "ConsulLock:LockDelay" },
        { "LockDelay", "soon", "ConsulLock:LockDelay" },
        { "SessionIdleTimeout", "-1s", "ConsulLock:SessionIdleTimeout" },
        { "SessionIdleTimeout", "2 seconds", "ConsulLock:SessionIdleTimeout" },
        { "RequestTimeout", "0s", "ConsulLock:RequestTimeout" },
        { "RequestTimeout", "-5s", "ConsulLock:RequestTimeout" },
        { "RequestTimeout", "11m", "ConsulLock:RequestTimeout" },
        { "RequestTimeout", "ten", "ConsulLock:RequestTimeout" },
        { "Behavior", "Sometimes", "ConsulLock:Behavior" },
        { "Behavior", "7", "ConsulLock:Behavior" },
        { "KeyPrefix", "/locks/", "ConsulLock:KeyPrefix" },
        { "KeyPrefix", "locks//mine", "ConsulLock:KeyPrefix" },
        { "KeyPrefix", "locks/../other", "ConsulLock:KeyPrefix" },
        { "KeyPrefix", "./locks", "ConsulLock:KeyPrefix" },
        { "KeyPrefix", "/", "ConsulLock:KeyPrefix" },
        { "KeyPrefix", new string('p', 600), "ConsulLock:KeyPrefix" },
        { "MaxConnections", "many", "ConsulLock:MaxConnections" },
        { "MaxConnections", "2", "ConsulLock:MaxConnections" },
        { "InstanceName", new string('i', 129), "ConsulLock:InstanceName" },
        { "InstanceName", new string('\u20ac', 43), "ConsulLock:InstanceName" },
        { "InstanceName", "   ", "ConsulLock:InstanceName" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_appsettings_value_stops_the_host_at_start_naming_the_option_and_the_value(string option, string value, string named)
    {
        using var host = HostWith(new() { ["ConsulLock:" + option] = value });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains(Shown(value), error.Message, StringComparison.Ordinal);
        Assert.Single(error.Failures);
    }

    [Fact]
    public async Task The_three_mistakes_of_the_issue_are_reported_together_at_start()
    {
        using var host = HostWith(new()
        {
            ["ConsulLock:Address"] = "not a url",
            ["ConsulLock:SessionTtl"] = "00:00:05",
            ["ConsulLock:KeyPrefix"] = "/locks/",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(3, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.Contains("ConsulLock:Address", StringComparison.Ordinal) && f.Contains("'not a url'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ConsulLock:SessionTtl", StringComparison.Ordinal) && f.Contains("00:00:05", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ConsulLock:KeyPrefix", StringComparison.Ordinal) && f.Contains("'/locks/'", StringComparison.Ordinal));
    }

    [Fact]
    public void Resolving_the_provider_without_a_host_gives_the_same_validation_error_not_a_parser_exception()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConsulLock:Address"] = "not a url" }).Build();
        using var services = new ServiceCollection().AddConsulLocking(configuration.GetSection("ConsulLock")).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IConsulLockProvider>());

        Assert.Contains("ConsulLock:Address", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_set_in_code_are_validated_at_start_too_and_named_as_properties()
    {
        var host = Host.CreateEmptyApplicationBuilder(null);
        host.Services.AddConsulLocking(o =>
        {
            o.SessionTtl = TimeSpan.FromSeconds(5);
            o.RequestTimeout = TimeSpan.Zero;
        });
        using var built = host.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => built.StartAsync());

        Assert.Contains(error.Failures, f => f.Contains("ConsulLockOptions.SessionTtl", StringComparison.Ordinal) && f.Contains("00:00:05", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ConsulLockOptions.RequestTimeout", StringComparison.Ordinal) && f.Contains("00:00:00", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Good_settings_start_the_host_and_reach_the_provider()
    {
        using var host = HostWith(new()
        {
            ["ConsulLock:Address"] = "consul.internal:8501",
            ["ConsulLock:SessionTtl"] = "00:00:20",
            ["ConsulLock:LockDelay"] = "1s",
            ["ConsulLock:RequestTimeout"] = "3s",
            ["ConsulLock:KeyPrefix"] = "locks",
            ["ConsulLock:Behavior"] = "delete",
        });

        await host.StartAsync();
        var options = host.Services.GetRequiredService<IOptions<ConsulLockOptions>>().Value;
        await host.StopAsync();

        Assert.Equal(new Uri("http://consul.internal:8501"), options.Address);
        Assert.Equal(TimeSpan.FromSeconds(20), options.SessionTtl);
        Assert.Equal(TimeSpan.FromSeconds(1), options.LockDelay);
        Assert.Equal(TimeSpan.FromSeconds(3), options.RequestTimeout);
        Assert.Equal(SessionBehavior.Delete, options.Behavior);
    }

    [Fact]
    public void Any_text_as_the_address_either_binds_or_fails_validation_naming_the_option()
    {
        var random = new Random(1307);
        const string Alphabet = "abc:/?#[]@!$&'()*+,;=%. -_~09\u00e9\u0000\t";
        for (var i = 0; i < 2000; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(1, 24)).Select(_ => Alphabet[random.Next(Alphabet.Length)]).ToArray());
            if (i % 3 == 0)
            {
                text = "http://" + text;
            }

            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConsulLock:Address"] = text }).Build();
            using var services = new ServiceCollection().AddConsulLocking(configuration.GetSection("ConsulLock")).BuildServiceProvider();
            try
            {
                var options = services.GetRequiredService<IOptions<ConsulLockOptions>>().Value;
                Assert.True(options.Address.IsAbsoluteUri, text);
                Assert.True(options.Address.Scheme is "http" or "https", text);
            }
            catch (OptionsValidationException ex)
            {
                Assert.Contains("ConsulLock:Address", ex.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void The_provider_constructor_names_every_bad_option_and_its_value()
    {
        var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions
        {
            SessionTtl = TimeSpan.FromSeconds(5),
            LockDelay = TimeSpan.FromMinutes(2),
            KeyPrefix = "/locks/",
            RequestTimeout = TimeSpan.FromSeconds(-1),
        }));

        Assert.Contains("ConsulLockOptions.SessionTtl = 00:00:05", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConsulLockOptions.LockDelay = 00:02:00", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConsulLockOptions.KeyPrefix = '/locks/'", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConsulLockOptions.RequestTimeout = -00:00:01", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_token_is_refused_without_showing_it()
    {
        const string Token = "secret-\n-token";
        using var host = HostWith(new() { ["ConsulLock:Token"] = Token });

        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<ConsulLockOptions>>().Value);

        Assert.Contains("ConsulLock:Token", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }

    private static string Shown(string value) => value.Length > 80 ? value[..40] : value;

    private static IHost HostWith(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(null);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddConsulLocking(builder.Configuration.GetSection("ConsulLock"));
        return builder.Build();
    }
}
