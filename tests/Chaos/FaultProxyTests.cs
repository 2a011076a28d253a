using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>The nemesis's network faults do what their names say, checked against a small echo server.</summary>
public sealed class FaultProxyTests : IAsyncLifetime
{
    private readonly TcpListener _echo = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private FaultProxy _proxy = null!;
    private Task _echoLoop = Task.CompletedTask;

    public Task InitializeAsync()
    {
        _echo.Start();
        _echoLoop = EchoAsync();
        _proxy = FaultProxy.Start(new Uri($"http://127.0.0.1:{((IPEndPoint)_echo.LocalEndpoint).Port}"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _stop.Cancel();
        _echo.Stop();
        await _echoLoop;
        _stop.Dispose();
    }

    [Fact]
    public async Task Forwards_when_healthy()
    {
        using var client = await ConnectAsync();
        Assert.Equal("ping", await RoundTripAsync(client, "ping", TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Refuse_resets_open_connections_and_refuses_new_ones_until_healed()
    {
        using var open = await ConnectAsync();
        Assert.Equal("a", await RoundTripAsync(open, "a", TimeSpan.FromSeconds(10)));

        await _proxy.RefuseAsync();

        await Assert.ThrowsAnyAsync<Exception>(() => RoundTripAsync(open, "b", TimeSpan.FromSeconds(10)));
        var refused = await Assert.ThrowsAsync<SocketException>(ConnectAsync);
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        _proxy.Heal();
        using var again = await ConnectAsync();
        Assert.Equal("c", await RoundTripAsync(again, "c", TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Blackhole_moves_nothing_until_healed_then_delivers()
    {
        using var client = await ConnectAsync();
        _proxy.Blackhole();

        var answer = RoundTripAsync(client, "held", TimeSpan.FromSeconds(30));
        // Nothing may come back while the hole is open; half a second is a sample, not a bound on a working path.
        await Task.WhenAny(answer, Task.Delay(500));
        Assert.False(answer.IsCompleted);

        _proxy.Heal();
        Assert.Equal("held", await answer);
    }

    [Fact]
    public async Task Delay_holds_each_request_back()
    {
        using var client = await ConnectAsync();
        _proxy.Delay(TimeSpan.FromMilliseconds(700));

        var clock = Stopwatch.StartNew();
        Assert.Equal("slow", await RoundTripAsync(client, "slow", TimeSpan.FromSeconds(10)));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(650), $"answered after {clock.ElapsedMilliseconds} ms");
    }

    private async Task<TcpClient> ConnectAsync()
    {
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync(_proxy.Address.Host, _proxy.Address.Port);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static async Task<string> RoundTripAsync(TcpClient client, string text, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(text), timeout.Token);
        var buffer = new byte[64];
        var read = 0;
        while (read < text.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
            if (n == 0)
            {
                throw new IOException("closed");
            }

            read += n;
        }

        return System.Text.Encoding.ASCII.GetString(buffer, 0, read);
    }

    private async Task EchoAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _echo.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var buffer = new byte[64];
                    try
                    {
                        var stream = client.GetStream();
                        int n;
                        while ((n = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                        {
                            await stream.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
                    {
                    }
                }
            });
        }
    }
}
