using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace ConsulLock.Aop.Tests.Configuration;

/// <summary><see cref="ConsulLockOptions.InstanceName"/>: its default, its limits, and where it is read from.</summary>
public sealed class InstanceNameTests
{
    [Fact]
    public void The_default_is_the_machine_name_and_the_process_id()
    {
        Assert.Equal(Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), new ConsulLockOptions().InstanceName);
    }

    [Theory]
    [InlineData("web-3/4711")]
    [InlineData("orders-api-7d9f8c-x2x4k")]
    [InlineData("caf\u00e9 \u20ac \U0001F512")]
    public void A_printable_name_of_up_to_128_bytes_is_accepted(string name)
    {
        new ConsulLockOptions { InstanceName = name }.Validate();
        new ConsulLockOptions { InstanceName = new string('x', 128) }.Validate();
    }

    [Theory]
    [InlineData("web\tpod", "control")]
    [InlineData("web\npod", "control")]
    [InlineData("web\u200bpod", "format")]
    [InlineData("", "empty")]
    public void A_name_an_operator_cannot_read_fails_before_any_request_naming_the_option(string name, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions { InstanceName = name }));

        Assert.Contains("ConsulLockOptions.InstanceName", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message.Replace(Environment.NewLine, " ", StringComparison.Ordinal).TrimEnd());
    }

    [Fact]
    public void A_lone_surrogate_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions { InstanceName = "lone " + '\ud800' + " surrogate" }));
        Assert.Contains("surrogate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_sets_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConsulLock:InstanceName"] = "pod-a" }).Build();
        var options = new ConsulLockOptions();

        options.Bind(configuration.GetSection("ConsulLock"));

        Assert.Equal("pod-a", options.InstanceName);
    }
}
