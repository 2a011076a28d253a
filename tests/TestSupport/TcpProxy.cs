using System.Net;
using System.Net.Sockets;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// A TCP forwarder between the library and Consul that a test can pause: while paused, no byte moves in either
/// direction and new connections are accepted but not served, so to the client Consul simply stops answering.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _acceptLoop;
    private TaskCompletionSource _open = NewGate(open: true);

    private TcpProxy(Uri target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Where clients connect; use it as the Consul address.</summary>
    public Uri Address { get; }

    public bool IsPaused => !Volatile.Read(ref _open).Task.IsCompleted;

    public static TcpProxy Start(Uri target) => new(target);

    public void Pause()
    {
        lock (_connections)
        {
            if (_open.Task.IsCompleted)
            {
                _open = NewGate(open: false);
            }
        }
    }

    public void Resume()
    {
        lock (_connections)
        {
            _open.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Resume();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }

        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource NewGate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.SetResult();
        }

        return gate;
    }

    private Task WhenOpen() => Volatile.Read(ref _open).Task.WaitAsync(_stop.Token);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
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
            await Task.WhenAny(PumpAsync(clientStream, upstreamStream), PumpAsync(upstreamStream, clientStream)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // A closed or reset connection ends its forwarding; nothing else to do.
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

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            // Bytes that arrive while paused are held here until Resume, so nothing moves either way.
            await WhenOpen().ConfigureAwait(false);
            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
        }
    }
}
