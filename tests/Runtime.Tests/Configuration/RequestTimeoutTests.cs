using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Tests.Configuration;

/// <summary><see cref="ConsulLockOptions.RequestTimeout"/> bounds each plain request to Consul (it was a hard-coded 10 s).</summary>
public sealed class RequestTimeoutTests
{
    [Fact]
    public void The_default_is_the_documented_ten_seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), new ConsulLockOptions().RequestTimeout);
    }

    [Theory]
    [InlineData(300)]
    [InlineData(1500)]
    public async Task A_Consul_that_accepts_and_never_answers_fails_a_request_after_the_configured_timeout(int milliseconds)
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new System.Collections.Concurrent.ConcurrentBag<Socket>();
        var accepting = Task.Run(async () =>
        {
            while (true)
            {
                accepted.Add(await silent.AcceptSocketAsync());
            }
        });

        var timeout = TimeSpan.FromMilliseconds(milliseconds);
        var options = new ConsulLockOptions { Address = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}"), RequestTimeout = timeout };
        using var client = new ConsulClient(options);

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConsulLockException>(() => client.ListSessionsAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
        clock.Stop();

        Assert.Contains($"did not answer within {timeout.TotalSeconds:0.#} s", error.Message, StringComparison.Ordinal);
        // Timers run on a coarse clock and may fire a few milliseconds before the stopwatch says so.
        Assert.True(clock.Elapsed >= timeout * 0.8, $"gave up after {clock.Elapsed}, well before {timeout}");
        // Generous: far below the old fixed 10 s, however slow the machine.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"gave up only after {clock.Elapsed}");
        silent.Stop();
        foreach (var socket in accepted)
        {
            socket.Dispose();
        }

        await Assert.ThrowsAnyAsync<Exception>(() => accepting);
    }
}
