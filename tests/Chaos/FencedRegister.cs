using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// The fenced store every critical section writes to, a line protocol on a loopback port. A <c>start</c> or
/// <c>end</c> write carrying a fencing token lower than the highest the register has seen for that key is rejected
/// (<c>stale</c>), as a downstream store guarded by the token would do; every line is kept as history.
/// </summary>
public sealed class FencedRegister : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<RegisterEvent> _events = [];
    private readonly Dictionary<string, ulong> _highest = [];
    private readonly List<TcpClient> _clients = [];
    private readonly Task _acceptLoop;

    public FencedRegister()
    {
        _listener.Start();
        Endpoint = "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary><c>host:port</c> for the workers.</summary>
    public string Endpoint { get; }

    /// <summary>A copy of the history so far, in arrival order.</summary>
    public IReadOnlyList<RegisterEvent> Snapshot()
    {
        lock (_events)
        {
            return [.. _events];
        }
    }

    /// <summary>Handles one line and returns the answer; public so that the checker's tests can drive it directly.</summary>
    public string Handle(string line)
    {
        var f = line.Split(' ');
        var kind = f[0];
        lock (_events)
        {
            switch (kind)
            {
                case "start":
                case "end":
                case "lost":
                {
                    var key = f[2];
                    var token = ulong.Parse(f[3], CultureInfo.InvariantCulture);
                    var accepted = true;
                    if (kind != "lost")
                    {
                        var highest = _highest.GetValueOrDefault(key);
                        accepted = token >= highest;
                        if (accepted)
                        {
                            _highest[key] = token;
                        }
                    }

                    _events.Add(new RegisterEvent(kind, f[1], key, token, long.Parse(f[4], CultureInfo.InvariantCulture), f.Length > 5 ? f[5] : "", accepted));
                    return accepted ? "ok" : "stale";
                }

                case "pstart":
                case "pend":
                case "plost":
                    // A semaphore permit's section: not exclusive, so not fenced; the checker counts them at once.
                    _events.Add(new RegisterEvent(kind, f[1], f[2], ulong.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture), f.Length > 5 ? f[5] : "", true));
                    return "ok";
                case "timeout":
                case "error":
                case "why":
                case "wait":
                case "quit":
                    _events.Add(new RegisterEvent(kind, f[1], f[2], 0, long.Parse(f[3], CultureInfo.InvariantCulture), f.Length > 4 ? f[4] : "", true));
                    return "ok";
                case "hello":
                case "bye":
                    _events.Add(new RegisterEvent(kind, f[1] + ".-", "", 0, long.Parse(f[^1], CultureInfo.InvariantCulture), f.Length > 3 ? f[2] : "", true));
                    return "ok";
                default:
                    throw new FormatException($"Unknown register line: {line}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        await _acceptLoop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (_clients)
            {
                _clients.Add(client);
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                await writer.WriteLineAsync(Handle(line)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
        {
            // The worker went away or the register is closing.
        }
    }
}
