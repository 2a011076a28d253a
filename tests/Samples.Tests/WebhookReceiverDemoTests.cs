namespace ConsulLock.Aop.Samples.Tests;

/// <summary>The README's first command, end to end: the demo runs green and its verdict says why.</summary>
public sealed class WebhookReceiverDemoTests
{
    [Fact]
    public async Task The_demo_passes_its_own_verdict_within_a_minute()
    {
        // No CONSUL_HTTP_ADDR: the demo provisions and starts its own agent, as on a newcomer's machine.
        var (exitCode, output) = await SampleProcess.RunAsync(
            SampleProcess.PathOf("WebhookReceiver", "WebhookReceiver"), [], TimeSpan.FromSeconds(60), ("CONSUL_HTTP_ADDR", null));

        Assert.True(exitCode == 0, output);
        Assert.Contains("overlapping calls for one id:       0 (must be 0)", output, StringComparison.Ordinal);
        Assert.Contains("stale fencing tokens accepted:      0 (must be 0)", output, StringComparison.Ordinal);
        Assert.Contains("CANCELLED: the worker lost its lock mid-call", output, StringComparison.Ordinal);
        Assert.Contains("PASS", output, StringComparison.Ordinal);
    }
}
