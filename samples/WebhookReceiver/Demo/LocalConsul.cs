using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace WebhookReceiver.Demo;

/// <summary>
/// The Consul agent the demo uses: the one at <c>CONSUL_HTTP_ADDR</c> when it answers, else a throwaway
/// <c>consul agent -dev</c> on free loopback ports, with the binary from the repository's eng/ensure-consul.sh.
/// </summary>
public sealed class LocalConsul : IAsyncDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Process? _process;

    private LocalConsul(Uri address, Process? process)
    {
        Address = address;
        _process = process;
    }

    public Uri Address { get; }

    public bool Started => _process is not null;

    public static async Task<LocalConsul> StartOrReuseAsync()
    {
        if (Environment.GetEnvironmentVariable("CONSUL_HTTP_ADDR") is { Length: > 0 } configured)
        {
            var address = new Uri(configured.Contains("://", StringComparison.Ordinal) ? configured : "http://" + configured);
            if (await HasLeaderAsync(address))
            {
                return new LocalConsul(address, null);
            }
        }

        var binary = await EnsureConsulAsync();
        var ports = Enumerable.Range(0, 4).Select(_ => FreePort()).ToArray();
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "agent", "-dev", "-node", $"{Environment.GetEnvironmentVariable("CONSULLOCK_TEST_RUN_ID") ?? "webhook"}-demo-{Environment.ProcessId}", "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", $"{ports[0]}", "-serf-lan-port", $"{ports[1]}", "-serf-wan-port", $"{ports[2]}", "-server-port", $"{ports[3]}",
            "-dns-port", "-1", "-grpc-port", "-1", "-log-level", "warn",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var consul = new LocalConsul(new Uri($"http://127.0.0.1:{ports[0]}/"), process);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => consul.Kill();
        var deadline = Stopwatch.StartNew();
        while (!await HasLeaderAsync(consul.Address))
        {
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                consul.Kill();
                throw new InvalidOperationException("The local Consul agent did not start; see eng/ensure-consul.sh.");
            }

            await Task.Delay(100); // polling start-up: Consul offers no event for "I have a leader"
        }

        return consul;
    }

    /// <summary>Destroys a session, as an operator or a failing health check would.</summary>
    public async Task DestroySessionAsync(string session)
    {
        using var response = await s_http.PutAsync(new Uri(Address, "v1/session/destroy/" + session), null);
        response.EnsureSuccessStatusCode();
    }

    private static async Task<bool> HasLeaderAsync(Uri address)
    {
        try
        {
            var leader = await s_http.GetStringAsync(new Uri(address, "v1/status/leader"));
            return leader.Trim().Trim('"').Length > 0;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<string> EnsureConsulAsync()
    {
        var script = Path.Combine(RepositoryRoot(), "eng", "ensure-consul.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, ArgumentList = { script } };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException("eng/ensure-consul.sh could not provide a consul binary; its message above says why.");
        }

        return output.Trim().Split('\n')[^1];
    }

    private static string RepositoryRoot() =>
        FindRepositoryRoot() ?? throw new InvalidOperationException("Run the demo from inside the ConsulLock.Aop repository, or set CONSUL_HTTP_ADDR to a running agent.");

    /// <summary>The repository the demo was built in, else the current folder (where artifacts go).</summary>
    public static string RepositoryRootOrCurrent() => FindRepositoryRoot() ?? Directory.GetCurrentDirectory();

    private static string? FindRepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "ConsulLock.Aop.sln")))
            {
                return folder.FullName;
            }
        }

        return null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private bool _disposed;

    private void Kill()
    {
        lock (s_http)
        {
            if (!_disposed && _process is { HasExited: false })
            {
                _process.Kill(entireProcessTree: true);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        if (_process is not null)
        {
            await _process.WaitForExitAsync();
            lock (s_http)
            {
                _disposed = true;
                _process.Dispose();
            }
        }
    }
}
