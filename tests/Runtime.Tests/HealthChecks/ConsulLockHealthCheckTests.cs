using System.Diagnostics;
using ConsulLock.Aop.HealthChecks;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ConsulLock.Aop.Tests.HealthChecks;

/// <summary>The health check against a real agent: healthy, Consul unreachable or silent, renewals overdue and back.</summary>
[Collection(ConsulCollection.Name)]
public sealed class ConsulLockHealthCheckTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task A_provider_that_reaches_Consul_and_renews_is_healthy_with_and_without_sessions()
    {
        var provider = NewProvider();
        var check = new ConsulLockHealthCheck(provider);

        var idle = await CheckAsync(check);
        Assert.Equal(HealthStatus.Healthy, idle.Status);
        Assert.Equal(0, idle.Data["sessions"]);

        await using var handle = await provider.AcquireAsync("healthy");
        var holding = await CheckAsync(check);
        Assert.Equal(HealthStatus.Healthy, holding.Status);
        Assert.Equal(1, holding.Data["sessions"]);
        Assert.Equal(Agent.Address.ToString(), holding.Data["address"]);
    }

    [Fact]
    public async Task Registered_through_DI_it_checks_the_provider_AddConsulLocking_registered()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddConsulLocking(o => { o.Address = Agent.Address; o.KeyPrefix = Prefix; o.Token = null; });
        services.AddHealthChecks().AddConsulLock(tags: ["ready"]);
        await using var container = services.BuildServiceProvider();

        var report = await container.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
        var entry = Assert.Single(report.Entries);
        Assert.Equal("consul-lock", entry.Key);
        Assert.Contains("ready", entry.Value.Tags);
    }

    [Fact]
    public async Task Without_AddConsulLocking_running_the_check_throws_and_says_what_to_register()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddHealthChecks().AddConsulLock();
        await using var container = services.BuildServiceProvider();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => container.GetRequiredService<HealthCheckService>().CheckHealthAsync());

        Assert.Contains("AddConsulLocking", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_are_refused_before_anything_runs()
    {
        Assert.Throws<ArgumentNullException>(() => ConsulLockHealthChecksBuilderExtensions.AddConsulLock(null!));
        var builder = new ServiceCollection().AddHealthChecks();
        Assert.Throws<ArgumentException>(() => builder.AddConsulLock(name: ""));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddConsulLock(timeout: TimeSpan.Zero));
        Assert.Throws<ArgumentNullException>(() => new ConsulLockHealthCheck(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsulLockHealthCheck(NewProvider(), TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public async Task Consul_refusing_connections_is_unhealthy_at_once_or_the_registered_failure_status()
    {
        var closed = new Uri($"http://127.0.0.1:{FreePorts.Take(1)[0]}");
        var check = new ConsulLockHealthCheck(NewProvider(address: closed));
        var clock = Stopwatch.StartNew();

        var result = await CheckAsync(check);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains(closed.Authority, result.Description, StringComparison.Ordinal);
        Assert.IsType<ConsulLockException>(result.Exception);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");

        var degradedOnFailure = await check.CheckHealthAsync(ContextFor(check, HealthStatus.Degraded));
        Assert.Equal(HealthStatus.Degraded, degradedOnFailure.Status);
    }

    [Fact]
    public async Task Consul_going_silent_is_unhealthy_after_the_timeout_and_healthy_again_when_it_answers()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var check = new ConsulLockHealthCheck(NewProvider(address: proxy.Address), TimeSpan.FromSeconds(1));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(check)).Status);

        proxy.Blackhole();
        var silent = await CheckAsync(check);
        Assert.Equal(HealthStatus.Unhealthy, silent.Status);
        Assert.Contains("did not answer within 1 s", silent.Description, StringComparison.Ordinal);

        proxy.Heal();
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(check)).Status);
    }

    [Fact]
    public async Task A_session_whose_renewal_is_overdue_is_degraded_and_healthy_again_once_a_renewal_gets_through()
    {
        // Consul answers everything except session renewals, which wait at a gate: the case of a renewal that hangs.
        using var gate = new RenewalGate();
        var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, SessionTtl = TimeSpan.FromSeconds(10), Token = null }, null, gate);
        await using var _ = provider;
        var check = new ConsulLockHealthCheck(provider);
        await using var handle = await provider.AcquireAsync("overdue");
        gate.Close();

        var degraded = await UntilAsync(check, HealthStatus.Degraded, TimeSpan.FromSeconds(20));
        Assert.Contains(handle.SessionId, degraded.Description, StringComparison.Ordinal);
        Assert.True((double)degraded.Data["longestSinceRenewalSeconds"] > ConsulLockHealthCheck.DegradedAfter(TimeSpan.FromSeconds(10)).TotalSeconds);
        Assert.False(handle.LostToken.IsCancellationRequested); // overdue, not lost: the lock is still held

        gate.Open();
        await UntilAsync(check, HealthStatus.Healthy, TimeSpan.FromSeconds(10));
        Assert.False(handle.LostToken.IsCancellationRequested);
    }

    [Theory]
    [InlineData(10, 6.0)]
    [InlineData(15, 8.5)]
    [InlineData(60, 31.0)]
    [InlineData(86400, 43201.0)]
    public void Degraded_means_half_the_TTL_plus_one_retry_interval(int ttlSeconds, double expectedSeconds) =>
        Assert.Equal(expectedSeconds, ConsulLockHealthCheck.DegradedAfter(TimeSpan.FromSeconds(ttlSeconds)).TotalSeconds);

    private static Task<HealthCheckResult> CheckAsync(ConsulLockHealthCheck check) => check.CheckHealthAsync(ContextFor(check, null));

    private static HealthCheckContext ContextFor(IHealthCheck check, HealthStatus? failureStatus) =>
        new() { Registration = new HealthCheckRegistration("consul-lock", check, failureStatus, null) };

    /// <summary>Checks until the status is reached: renewals run on their own schedule, which raises no event.</summary>
    private static async Task<HealthCheckResult> UntilAsync(ConsulLockHealthCheck check, HealthStatus status, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var result = await CheckAsync(check);
            if (result.Status == status)
            {
                return result;
            }

            Assert.True(clock.Elapsed < limit, $"still {result.Status} ({result.Description}) after {limit}");
            await Task.Delay(100);
        }
    }

    /// <summary>Lets every request through except session renewals while closed; they wait until it opens again.</summary>
    private sealed class RenewalGate() : DelegatingHandler(new HttpClientHandler())
    {
        private volatile TaskCompletionSource _open = Opened();

        public void Close() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _open.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.StartsWith("/v1/session/renew/", StringComparison.Ordinal))
            {
                await _open.Task.WaitAsync(cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }
    }
}
