using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// The proxy's Consul-shaped faults do what their names say, checked with plain HTTP against a real dev agent: what
/// the client sees through the proxy, and what reached Consul (read directly from the agent).
/// </summary>
public sealed class FaultProxyAgentTests(ConsulAgentFixture fixture) : IClassFixture<ConsulAgentFixture>, IAsyncLifetime
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(15);
    private readonly string _prefix = "proxy-tests/" + Guid.NewGuid().ToString("N")[..12] + "/";
    private FaultProxy _proxy = null!;
    private int _connects;
    private HttpClient _client = null!;

    private Uri Agent => fixture.Agent.Address;

    public Task InitializeAsync()
    {
        _proxy = FaultProxy.Start(Agent);
        // One connection at most, counted, so that a test can tell a reused connection from a new one.
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            ConnectCallback = async (context, ct) =>
            {
                Interlocked.Increment(ref _connects);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _client = new HttpClient(handler) { BaseAddress = _proxy.Address, Timeout = s_generous };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task DelayAnswers_lets_requests_take_effect_at_once_and_holds_their_answers_back()
    {
        _proxy.DelayAnswers(TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(2));

        var clock = Stopwatch.StartNew();
        var put = _client.PutAsync($"/v1/kv/{_prefix}late-answer", new StringContent("v"));
        await UntilAsync(async () => (await ConsulHttp.SendAsync(HttpMethod.Get, Agent, $"/v1/kv/{_prefix}late-answer")).Status == HttpStatusCode.OK);
        var writtenAfter = clock.Elapsed;
        using var answer = await put.WaitAsync(s_generous);
        var answeredAfter = clock.Elapsed;

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.True(writtenAfter < TimeSpan.FromSeconds(1), $"the request reached Consul only after {writtenAfter.TotalMilliseconds:0} ms");
        Assert.True(answeredAfter >= TimeSpan.FromSeconds(1.45), $"answered after {answeredAfter.TotalMilliseconds:0} ms");

        // Each answer is late by the delay, not by the delays of the answers before it on the same connection.
        clock.Restart();
        using var second = await _client.GetAsync($"/v1/kv/{_prefix}late-answer").WaitAsync(s_generous);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.45), TimeSpan.FromSeconds(3.5));
        Assert.Equal(1, _connects);

        _proxy.Heal();
        clock.Restart();
        using var healed = await _client.GetAsync($"/v1/kv/{_prefix}late-answer").WaitAsync(s_generous);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"still late after healing: {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Delay_holds_requests_back_so_they_take_effect_late()
    {
        _proxy.Delay(TimeSpan.FromSeconds(1.5));

        var clock = Stopwatch.StartNew();
        var put = _client.PutAsync($"/v1/kv/{_prefix}late-request", new StringContent("v"));
        await UntilAsync(async () => (await ConsulHttp.SendAsync(HttpMethod.Get, Agent, $"/v1/kv/{_prefix}late-request")).Status == HttpStatusCode.OK);

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.45), $"the request reached Consul after {clock.ElapsedMilliseconds} ms");
        using var answer = await put.WaitAsync(s_generous);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task AnswerWithError_answers_500_on_a_connection_that_stays_usable_and_nothing_reaches_Consul()
    {
        using (var before = await _client.GetAsync("/v1/status/leader"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        _proxy.AnswerWithError();

        // The connection opened before is reset by the switch; the client opens one more and keeps it.
        for (var i = 0; i < 3; i++)
        {
            using var put = await SendIgnoringOneResetAsync(() => _client.PutAsync($"/v1/kv/{_prefix}refused-{i}", new StringContent(new string('x', 20_000))));
            Assert.Equal(HttpStatusCode.InternalServerError, put.StatusCode);
            Assert.Equal("rpc error: No cluster leader", await put.Content.ReadAsStringAsync());
            using var get = await _client.GetAsync($"/v1/kv/{_prefix}refused-{i}");
            Assert.Equal(HttpStatusCode.InternalServerError, get.StatusCode);
        }

        Assert.Equal(2, _connects);
        Assert.Equal(HttpStatusCode.NotFound, (await ConsulHttp.SendAsync(HttpMethod.Get, Agent, $"/v1/kv/{_prefix}?recurse")).Status);

        // Healed, the same connection carries the next request to Consul.
        _proxy.Heal();
        using var healed = await _client.GetAsync("/v1/status/leader");
        Assert.Equal(HttpStatusCode.OK, healed.StatusCode);
        Assert.Equal(2, _connects);
    }

    [Fact]
    public async Task ResetEveryConnection_accepts_then_resets_new_and_open_connections_until_healed()
    {
        using var open = new TcpClient();
        await open.ConnectAsync(_proxy.Address.Host, _proxy.Address.Port);

        _proxy.ResetEveryConnection();

        await AssertResetAsync(open);
        // The kernel completes the connect; the reset comes right after, so soon that the connect may report it.
        using var fresh = new TcpClient();
        await AssertResetAsync(fresh, connect: true);

        // What an HTTP client sees: a failed request, not a hang.
        var failed = await Assert.ThrowsAnyAsync<Exception>(() => _client.GetAsync("/v1/status/leader"));
        Assert.True(failed is HttpRequestException or SocketException, failed.ToString());

        _proxy.Heal();
        using var healed = await _client.GetAsync("/v1/status/leader");
        Assert.Equal(HttpStatusCode.OK, healed.StatusCode);
    }

    /// <summary>The connection was reset: connecting, writing or reading fails with a reset (or the socket is gone), or the read ends at once.</summary>
    private async Task AssertResetAsync(TcpClient client, bool connect = false)
    {
        using var timeout = new CancellationTokenSource(s_generous);
        var failure = await Record.ExceptionAsync(async () =>
        {
            if (connect)
            {
                await client.ConnectAsync(_proxy.Address.Host, _proxy.Address.Port, timeout.Token);
            }

            var stream = client.GetStream();
            await stream.WriteAsync("GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), timeout.Token);
            var read = await stream.ReadAsync(new byte[64], timeout.Token);
            Assert.Equal(0, read);
        });
        Assert.False(timeout.IsCancellationRequested, "the connection hung instead of being reset");
        if (failure is not null)
        {
            var socketError = (failure as SocketException ?? failure.InnerException as SocketException)?.SocketErrorCode;
            Assert.True(socketError is SocketError.ConnectionReset or SocketError.NotConnected or SocketError.Shutdown or SocketError.ConnectionAborted, failure.ToString());
        }
    }

    /// <summary>A request on a connection reset by the fault's switch may fail once; the next goes out on a new one.</summary>
    private static async Task<HttpResponseMessage> SendIgnoringOneResetAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException)
        {
            return await send();
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var started = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < s_generous, "the condition never held");
            await Task.Delay(20);
        }
    }
}
