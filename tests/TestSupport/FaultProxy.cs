using System.Net;
using System.Net.Sockets;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// A TCP forwarder between one client and Consul that a nemesis can break in the ways a network breaks: refuse
/// (no listener, open connections reset), blackhole (connections accepted, no byte moves either way until healed)
/// and delay (every chunk towards Consul waits a fixed time). <see cref="Heal"/> restores plain forwarding.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly IPEndPoint _endpoint;
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly object _sync = new();
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private TaskCompletionSource _open = Gate(open: true);
    private long _delayTicks;

    private FaultProxy(Uri target)
    {
        _target = target;
        var listener = Listen(new IPEndPoint(IPAddress.Loopback, 0));
        _endpoint = (IPEndPoint)listener.LocalEndpoint;
        Address = new Uri($"http://127.0.0.1:{_endpoint.Port}");
        StartAccepting(listener);
    }

    /// <summary>Where the client connects; use it as the Consul address.</summary>
    public Uri Address { get; }

    public static FaultProxy Start(Uri target) => new(target);

    /// <summary>New connections are refused and open ones are reset, as when the agent's port is closed.</summary>
    public async Task RefuseAsync()
    {
        TcpListener? listener;
        Task loop;
        lock (_sync)
        {
            listener = _listener;
            _listener = null;
            loop = _acceptLoop;
        }

        listener?.Stop();
        await loop.ConfigureAwait(false);
        ResetAll();
    }

    /// <summary>Nothing moves in either direction; new connections are accepted and left hanging.</summary>
    public void Blackhole()
    {
        lock (_sync)
        {
            if (_open.Task.IsCompleted)
            {
                _open = Gate(open: false);
            }
        }
    }

    /// <summary>Every chunk sent towards Consul waits <paramref name="delay"/> first (so each request takes that much longer).</summary>
    public void Delay(TimeSpan delay) => Interlocked.Exchange(ref _delayTicks, delay.Ticks);

    /// <summary>Plain forwarding again: listening, bytes moving, no delay.</summary>
    public void Heal()
    {
        Interlocked.Exchange(ref _delayTicks, 0);
        lock (_sync)
        {
            _open.TrySetResult();
            if (_listener is null && !_stop.IsCancellationRequested)
            {
                StartAccepting(Listen(_endpoint));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await RefuseAsync().ConfigureAwait(false);
        lock (_sync)
        {
            _open.TrySetResult();
        }

        _stop.Dispose();
    }

    private static TcpListener Listen(IPEndPoint endpoint)
    {
        var listener = new TcpListener(endpoint);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        return listener;
    }

    private static TaskCompletionSource Gate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.SetResult();
        }

        return gate;
    }

    private void StartAccepting(TcpListener listener)
    {
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
    }

    private void ResetAll()
    {
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                try
                {
                    // Linger 0: close with RST, as a crashed peer or a firewall's reject would.
                    if (connection.Client is { } socket)
                    {
                        socket.LingerState = new LingerOption(true, 0);
                    }
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                }

                connection.Dispose();
            }

            _connections.Clear();
        }
    }

    private Task WhenOpen()
    {
        lock (_sync)
        {
            return _open.Task.WaitAsync(_stop.Token);
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var upstream = new TcpClient();
        lock (_connections)
        {
            _connections.Add(client);
            _connections.Add(upstream);
        }

        try
        {
            await WhenOpen().ConfigureAwait(false);
            await upstream.ConnectAsync(_target.Host, _target.Port, _stop.Token).ConfigureAwait(false);
            var clientStream = client.GetStream();
            var upstreamStream = upstream.GetStream();
            await Task.WhenAny(PumpAsync(clientStream, upstreamStream, delayed: true), PumpAsync(upstreamStream, clientStream, delayed: false)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // A closed or reset connection ends its forwarding.
        }
        finally
        {
            client.Dispose();
            upstream.Dispose();
            lock (_connections)
            {
                _connections.Remove(client);
                _connections.Remove(upstream);
            }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool delayed)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            var delay = TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
            if (delayed && delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            }

            // Bytes that arrive in a blackhole are held here until healed.
            await WhenOpen().ConfigureAwait(false);
            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
        }
    }
}
