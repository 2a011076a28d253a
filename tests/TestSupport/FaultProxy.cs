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
    private Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly object _sync = new();
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private TaskCompletionSource _open = Gate(open: true);
    private long _delayTicks;
    private volatile bool _stallNew;
    private int _stallEpoch;
    private int _activeConnections;
    private int _mostConnections;

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

    /// <summary>Client connections open through the proxy now.</summary>
    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    /// <summary>The most client connections that were open through the proxy at once.</summary>
    public int MostConnections => Volatile.Read(ref _mostConnections);

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

    /// <summary>
    /// Connections open now go silent for good, as when a NAT or firewall drops their state: nothing they carry
    /// arrives, nothing is reset, and <see cref="Heal"/> does not revive them. New connections work.
    /// </summary>
    public void StallOpenConnections() => Interlocked.Increment(ref _stallEpoch);

    /// <summary>Connections opened from now until <see cref="Heal"/> go silent for good (they stay so after it).</summary>
    public void StallNewConnections() => _stallNew = true;

    /// <summary>From now on forwards to <paramref name="target"/> and resets the connections open now: to the client, Consul restarted.</summary>
    public async Task RetargetAsync(Uri target)
    {
        Volatile.Write(ref _target, target);
        await RefuseAsync().ConfigureAwait(false);
        Heal();
    }

    /// <summary>Plain forwarding again: listening, bytes moving, no delay. Stalled connections stay stalled.</summary>
    public void Heal()
    {
        _stallNew = false;
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
        var active = Interlocked.Increment(ref _activeConnections);
        for (var most = Volatile.Read(ref _mostConnections); active > most; most = Volatile.Read(ref _mostConnections))
        {
            Interlocked.CompareExchange(ref _mostConnections, active, most);
        }

        lock (_connections)
        {
            _connections.Add(client);
            _connections.Add(upstream);
        }

        try
        {
            var epoch = _stallNew ? -1 : Volatile.Read(ref _stallEpoch);
            await WhenOpen().ConfigureAwait(false);
            var target = Volatile.Read(ref _target);
            await upstream.ConnectAsync(target.Host, target.Port, _stop.Token).ConfigureAwait(false);
            var clientStream = client.GetStream();
            var upstreamStream = upstream.GetStream();
            await Task.WhenAny(PumpAsync(clientStream, upstreamStream, delayed: true, epoch), PumpAsync(upstreamStream, clientStream, delayed: false, epoch)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // A closed or reset connection ends its forwarding.
        }
        finally
        {
            Interlocked.Decrement(ref _activeConnections);
            client.Dispose();
            upstream.Dispose();
            lock (_connections)
            {
                _connections.Remove(client);
                _connections.Remove(upstream);
            }
        }
    }

    /// <summary>
    /// Moves bytes one way until either side closes. It never faults: of the two pumps of a connection only the first to
    /// end is awaited, and the other's failure must not surface later as an unobserved task exception.
    /// </summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool delayed, int epoch)
    {
        try
        {
            await PumpUntilClosedAsync(from, to, delayed, epoch).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The connection closed or was reset: this direction is done.
        }
    }

    private async Task PumpUntilClosedAsync(NetworkStream from, NetworkStream to, bool delayed, int epoch)
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

            // Bytes that arrive in a blackhole are held here until healed; on a stalled connection, for good.
            await WhenOpen().ConfigureAwait(false);
            if (epoch != Volatile.Read(ref _stallEpoch))
            {
                await Task.Delay(Timeout.Infinite, _stop.Token).ConfigureAwait(false);
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
        }
    }
}
