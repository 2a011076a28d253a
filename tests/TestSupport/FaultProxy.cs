using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// A TCP forwarder between one client and Consul that a nemesis can break in the ways a network or a sick Consul
/// breaks: refuse (no listener, open connections reset), reset every connection right after it is accepted, blackhole
/// (connections accepted, no byte moves either way until healed), delay requests (every chunk towards Consul waits a
/// fixed time) or answers (every byte from Consul arrives late), and answer every request with a 500 itself.
/// <see cref="Heal"/> restores plain forwarding.
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
    private long _answerDelayMinTicks;
    private long _answerDelayMaxTicks;
    private volatile bool _resetNew;
    private volatile byte[]? _errorAnswer;
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
    /// Every byte Consul sends from now on reaches the client between <paramref name="least"/> and
    /// <paramref name="most"/> after it arrived here (drawn per chunk, order kept): requests reach Consul and take
    /// effect at once, their answers come late. Also on connections open now.
    /// </summary>
    public void DelayAnswers(TimeSpan least, TimeSpan most)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(most, least);
        Interlocked.Exchange(ref _answerDelayMinTicks, least.Ticks);
        Interlocked.Exchange(ref _answerDelayMaxTicks, most.Ticks);
    }

    /// <summary>Every byte Consul sends from now on reaches the client <paramref name="delay"/> late.</summary>
    public void DelayAnswers(TimeSpan delay) => DelayAnswers(delay, delay);

    /// <summary>
    /// Every connection is reset (RST) as soon as it is accepted, and the open ones now: the client connects, then sees
    /// "connection reset" or "not connected", as when an agent or a load balancer in front of it is restarting.
    /// </summary>
    public void ResetEveryConnection()
    {
        _resetNew = true;
        ResetAll();
    }

    /// <summary>
    /// The proxy itself answers every request with <c>500 Internal Server Error</c> and <paramref name="body"/>, as a
    /// Consul without a leader does; nothing reaches Consul. Connections stay open (keep-alive), so a client reuses them,
    /// and after <see cref="Heal"/> their next request goes to Consul. The connections open now are reset first, so
    /// that no request already on its way to Consul is answered by it.
    /// </summary>
    public void AnswerWithError(string body = "rpc error: No cluster leader")
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {bytes.Length}\r\n\r\n");
        _errorAnswer = [.. head, .. bytes];
        ResetAll();
    }

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

    /// <summary>
    /// Plain forwarding again: listening, bytes moving, no delay, no reset, no error answers. Stalled connections stay
    /// stalled; answers already held back by <see cref="DelayAnswers(TimeSpan, TimeSpan)"/> still arrive late.
    /// </summary>
    public void Heal()
    {
        _stallNew = false;
        _resetNew = false;
        _errorAnswer = null;
        Interlocked.Exchange(ref _delayTicks, 0);
        Interlocked.Exchange(ref _answerDelayMinTicks, 0);
        Interlocked.Exchange(ref _answerDelayMaxTicks, 0);
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
                Reset(connection);
            }

            _connections.Clear();
        }
    }

    /// <summary>Closes with RST (linger 0), as a crashed peer or a firewall's reject would.</summary>
    private static void Reset(TcpClient connection)
    {
        try
        {
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
        if (_resetNew)
        {
            Reset(client);
            return;
        }

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
            var clientStream = client.GetStream();
            // Answered by the proxy itself until healed; then the request read meanwhile goes on to Consul.
            var unanswered = _errorAnswer is null ? default : await AnswerWithErrorAsync(clientStream).ConfigureAwait(false);
            await WhenOpen().ConfigureAwait(false);
            var target = Volatile.Read(ref _target);
            await upstream.ConnectAsync(target.Host, target.Port, _stop.Token).ConfigureAwait(false);
            var upstreamStream = upstream.GetStream();
            await upstreamStream.WriteAsync(unanswered, _stop.Token).ConfigureAwait(false);
            await Task.WhenAny(PumpAsync(clientStream, upstreamStream, towardsConsul: true, epoch), PumpAsync(upstreamStream, clientStream, towardsConsul: false, epoch)).ConfigureAwait(false);
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
    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool towardsConsul, int epoch)
    {
        try
        {
            await (towardsConsul ? PumpUntilClosedAsync(from, to, delayed: true, epoch) : PumpAnswersAsync(from, to, epoch)).ConfigureAwait(false);
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

            await WriteWhenOpenAsync(to, buffer.AsMemory(0, read), epoch).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Moves Consul's bytes to the client, each chunk held until its due time (<see cref="DelayAnswers(TimeSpan, TimeSpan)"/>):
    /// a reader stamps chunks as they arrive and a writer sends them when due, so that a late answer does not also make
    /// the chunks behind it later still.
    /// </summary>
    private async Task PumpAnswersAsync(NetworkStream from, NetworkStream to, int epoch)
    {
        var chunks = Channel.CreateUnbounded<(ReadOnlyMemory<byte> Bytes, long Due)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writing = WriteWhenDueAsync(chunks.Reader, to, epoch);
        try
        {
            var buffer = new byte[16 * 1024];
            while (await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false) is var read && read > 0)
            {
                chunks.Writer.TryWrite((buffer.AsSpan(0, read).ToArray(), Environment.TickCount64 + (long)AnswerDelay().TotalMilliseconds));
            }
        }
        finally
        {
            chunks.Writer.TryComplete();
        }

        await writing.ConfigureAwait(false);
    }

    /// <summary>Never faults, like <see cref="PumpAsync"/>: it is awaited only when the reading side ends without an exception.</summary>
    private async Task WriteWhenDueAsync(ChannelReader<(ReadOnlyMemory<byte> Bytes, long Due)> chunks, NetworkStream to, int epoch)
    {
        try
        {
            await foreach (var (bytes, due) in chunks.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var wait = due - Environment.TickCount64;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), _stop.Token).ConfigureAwait(false);
                }

                await WriteWhenOpenAsync(to, bytes, epoch).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The connection closed or was reset: what was still due is dropped, as the network would.
        }
    }

    private TimeSpan AnswerDelay()
    {
        var least = Interlocked.Read(ref _answerDelayMinTicks);
        var most = Interlocked.Read(ref _answerDelayMaxTicks);
        return TimeSpan.FromTicks(most > least ? Random.Shared.NextInt64(least, most + 1) : least);
    }

    private async Task WriteWhenOpenAsync(NetworkStream to, ReadOnlyMemory<byte> bytes, int epoch)
    {
        // Bytes that arrive in a blackhole are held here until healed; on a stalled connection, for good.
        await WhenOpen().ConfigureAwait(false);
        if (epoch != Volatile.Read(ref _stallEpoch))
        {
            await Task.Delay(Timeout.Infinite, _stop.Token).ConfigureAwait(false);
        }

        await to.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers each request on the connection with the error of <see cref="AnswerWithError"/>, reading it first (its
    /// head, and a body of <c>Content-Length</c> bytes), so that the connection stays usable for the next one. Once
    /// healed, returns the bytes of the request read meanwhile, which are Consul's to answer.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>> AnswerWithErrorAsync(NetworkStream stream)
    {
        var buffer = new byte[16 * 1024];
        var filled = 0;
        while (true)
        {
            int headEnd;
            while ((headEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == buffer.Length)
                {
                    throw new IOException("A request head longer than the proxy reads.");
                }

                filled += await ReadSomeAsync(stream, buffer.AsMemory(filled)).ConfigureAwait(false);
            }

            if (_errorAnswer is not { } answer)
            {
                return buffer.AsMemory(0, filled);
            }

            var consumed = headEnd + 4;
            var body = ContentLength(Encoding.ASCII.GetString(buffer, 0, headEnd));
            var bodyHere = Math.Min(body, filled - consumed);
            consumed += bodyHere;
            buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
            filled -= consumed;
            for (var left = body - bodyHere; left > 0; left -= await ReadSomeAsync(stream, buffer.AsMemory(0, Math.Min(left, buffer.Length))).ConfigureAwait(false))
            {
            }

            await stream.WriteAsync(answer, _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task<int> ReadSomeAsync(NetworkStream stream, Memory<byte> into) =>
        await stream.ReadAsync(into, _stop.Token).ConfigureAwait(false) is > 0 and var read ? read : throw new IOException("The client closed the connection mid-request.");

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line.AsSpan("Content-Length:".Length).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
