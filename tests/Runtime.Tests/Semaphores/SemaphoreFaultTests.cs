using System.Diagnostics;
using ConsulLock.Aop.TestSupport;
using ConsulLock.Aop.Tests.Engine;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Semaphores;

/// <summary>Semaphores while the connection to Consul misbehaves (a TCP proxy between provider and agent): section 6's promises.</summary>
[Collection(SemaphoreCollection.Name)]
public sealed class SemaphoreFaultTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_wait_ends_at_its_deadline_while_Consul_is_blackholed_and_says_Consul_failed()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var provider = NewProvider(o => o.RequestTimeout = TimeSpan.FromSeconds(2), proxy.Address);
        await using (await provider.AcquireSemaphoreAsync("deadline", 1))
        {
        }

        proxy.Blackhole();
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConsulLockTimeoutException>(async () => await provider.TryAcquireSemaphoreAsync("deadline", 1, TimeSpan.FromSeconds(1)));
        clock.Stop();
        output.WriteLine($"returned after {clock.Elapsed.TotalMilliseconds:0} ms: {error.Message}");
        // Within the deadline and a generous margin, never the request timeout or a TTL.
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(1.9));
        Assert.Contains("Consul was failing", error.Message, StringComparison.Ordinal);
        proxy.Heal();
        await UntilAsync(async () => await KeysUnderAsync("deadline/") == 0, "the abandoned acquire left a key once Consul was back");
    }

    [Fact]
    public async Task Refused_connections_shorter_than_the_TTL_are_ridden_out_and_a_release_during_them_happens_after()
    {
        await using var proxy = FaultProxy.Start(Agent.Address);
        var provider = NewProvider(o => { o.SessionTtl = TimeSpan.FromSeconds(10); o.RequestTimeout = TimeSpan.FromSeconds(2); }, proxy.Address);
        var ridden = await provider.AcquireSemaphoreAsync("refused", 2);
        var released = await provider.AcquireSemaphoreAsync("refused", 2);

        await proxy.RefuseAsync();
        await Task.Delay(TimeSpan.FromSeconds(3));
        // Disposal returns within a request timeout; the leave is retried in the background.
        var disposing = Stopwatch.StartNew();
        await released.DisposeAsync();
        Assert.True(disposing.Elapsed < TimeSpan.FromSeconds(5), $"the release took {disposing.Elapsed} while Consul refused");
        proxy.Heal();

        await UntilAsync(async () => await ReadKeyAsync(Prefix + "refused/" + released.SessionId) is null, "the release did not happen once Consul was back");
        Assert.False(ridden.LostToken.IsCancellationRequested, "a 3 s refusal (less than the TTL) was reported as a loss");
        Assert.NotNull(await ReadKeyAsync(Prefix + "refused/" + ridden.SessionId));
        await ridden.DisposeAsync();
        await UntilAsync(async () => await KeysUnderAsync("refused/") == 0, "a key was left after both permits were released");
    }
}
