using System.Diagnostics;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// The first lock of a fresh process (issue 19: 0.27-0.7 s from a timer to the body, 1.2 s for a skipped call): warming
/// the provider up at host start opens the connection and runs a lock's code paths once, writing nothing to Consul,
/// without holding up the host's start when Consul is slow. The figures are in docs/performance.md.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class WarmUpTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task Warming_up_writes_no_key_and_its_session_is_the_one_the_first_lock_uses()
    {
        var requests = new CountingHandler();
        var options = new ConsulLockOptions
        {
            Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, SessionIdleTimeout = TimeSpan.FromMinutes(1),
        };
        await using var provider = new ConsulLockProvider(options, loggerFactory: null, requests);

        await provider.WarmUpAsync();

        Assert.Equal(0, await KeysUnderAsync(""));
        Assert.DoesNotContain(requests.Log, r => r.StartsWith("PUT /v1/kv/", StringComparison.Ordinal) || r.StartsWith("DELETE", StringComparison.Ordinal));
        Assert.Single(provider.SessionIds);

        await using (await provider.AcquireAsync("after-warm-up"))
        {
        }

        Assert.Equal(1, requests.Log.Count(r => r.StartsWith("PUT /v1/session/create", StringComparison.Ordinal)));
        Assert.Equal(0, await KeysUnderAsync(""));
    }

    [Fact]
    public async Task Warming_up_a_provider_whose_Consul_is_down_fails_with_our_exception_naming_the_address()
    {
        var port = FreePorts.Take(1)[0];
        await using var provider = new ConsulLockProvider(new ConsulLockOptions
        {
            Address = new Uri($"http://127.0.0.1:{port}"), RequestTimeout = TimeSpan.FromSeconds(2),
        });

        var error = await Assert.ThrowsAnyAsync<ConsulLockException>(() => provider.WarmUpAsync());
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_host_warms_the_provider_when_it_starts_and_a_hung_Consul_does_not_hold_its_start_up()
    {
        // A live agent: the warm-up runs at start (its session shows up in the provider).
        using (var host = Host(Agent.Address, TimeSpan.FromSeconds(10)))
        {
            await host.StartAsync();
            var provider = host.Services.GetRequiredService<ConsulLockProvider>();
            await UntilAsync(() => Task.FromResult(provider.SessionIds.Count == 1), "the host's start did not warm the provider up");
            await host.StopAsync();
        }

        // A Consul that accepts connections and never answers: the start waits for the warm-up a second, not the
        // request timeout (a minute).
        await using var proxy = FaultProxy.Start(Agent.Address);
        proxy.Blackhole();
        using var hung = Host(proxy.Address, TimeSpan.FromMinutes(1));
        var started = Stopwatch.GetTimestamp();
        await hung.StartAsync();
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(20), $"the host's start took {Stopwatch.GetElapsedTime(started)}");
        await hung.StopAsync();
    }

    private IHost Host(Uri address, TimeSpan requestTimeout)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddConsulLocking(o =>
        {
            o.Address = address;
            o.KeyPrefix = Prefix;
            o.RequestTimeout = requestTimeout;
            o.SessionIdleTimeout = TimeSpan.FromMinutes(1);
        });
        return builder.Build();
    }
}
