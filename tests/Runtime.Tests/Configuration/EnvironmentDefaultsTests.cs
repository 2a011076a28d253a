namespace ConsulLock.Aop.Tests.Configuration;

/// <summary>Tests that change process-wide environment variables run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment";
}

/// <summary>An unreadable <c>CONSUL_HTTP_ADDR</c> is reported by validation, naming the variable; it never throws a parser exception.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class EnvironmentDefaultsTests
{
    [Theory]
    [InlineData("not a url")]
    [InlineData("http://[::1")]
    [InlineData("ftp://consul:8500")]
    public void A_bad_CONSUL_HTTP_ADDR_is_named_when_the_options_are_validated(string value)
    {
        var before = Environment.GetEnvironmentVariable("CONSUL_HTTP_ADDR");
        Environment.SetEnvironmentVariable("CONSUL_HTTP_ADDR", value);
        try
        {
            var options = new ConsulLockOptions();

            var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(options));
            Assert.Contains($"CONSUL_HTTP_ADDR = '{value}'", error.Message, StringComparison.Ordinal);

            // An address set afterwards replaces the unreadable default.
            options.Address = new Uri("http://127.0.0.1:8500");
            using var provider = new ConsulLockProvider(options);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CONSUL_HTTP_ADDR", before);
        }
    }

    [Theory]
    [InlineData("consul.internal:8501", "http://consul.internal:8501/")]
    [InlineData("https://consul.internal:8501", "https://consul.internal:8501/")]
    public void A_good_CONSUL_HTTP_ADDR_is_the_default_address(string value, string expected)
    {
        var before = Environment.GetEnvironmentVariable("CONSUL_HTTP_ADDR");
        Environment.SetEnvironmentVariable("CONSUL_HTTP_ADDR", value);
        try
        {
            Assert.Equal(new Uri(expected), new ConsulLockOptions().Address);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CONSUL_HTTP_ADDR", before);
        }
    }
}
