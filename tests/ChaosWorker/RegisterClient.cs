using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace ConsulLock.Aop.ChaosWorker;

/// <summary>
/// The worker's line connection to the harness's fenced register. One request at a time; the register answers each
/// line with <c>ok</c> or <c>stale</c>. It is not routed through the worker's Consul proxy: faults hit Consul only.
/// </summary>
internal sealed class RegisterClient : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private RegisterClient(TcpClient client)
    {
        _client = client;
        var stream = client.GetStream();
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    public static async Task<RegisterClient> ConnectAsync(string hostAndPort)
    {
        var separator = hostAndPort.LastIndexOf(':');
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(hostAndPort[..separator], int.Parse(hostAndPort[(separator + 1)..], CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return new RegisterClient(client);
    }

    /// <summary>Sends one record (fields joined by spaces) and returns the register's answer.</summary>
    public async Task<string> SendAsync(params object[] fields)
    {
        var line = string.Join(' ', fields.Select(f => Convert.ToString(f, CultureInfo.InvariantCulture)!.Replace(' ', '_').Replace('\n', '_')));
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _writer.WriteLineAsync(line).ConfigureAwait(false);
            return await _reader.ReadLineAsync().ConfigureAwait(false) ?? throw new IOException("The register closed the connection.");
        }
        finally
        {
            _gate.Release();
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }
}
