using System.Globalization;
using System.Net;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// One Consul agent of the chaos topology that the nemesis can kill (SIGKILL), restart with the same command line
/// (same ports, same data folder), suspend (SIGSTOP) and resume (SIGCONT).
/// </summary>
public sealed class ConsulNode : IAsyncDisposable
{
    private readonly IReadOnlyList<string> _arguments;
    private ConsulProcess _process;

    private ConsulNode(string name, IReadOnlyList<string> arguments, Uri httpAddress, string? raftAddress)
    {
        Name = name;
        _arguments = arguments;
        HttpAddress = httpAddress;
        RaftAddress = raftAddress;
        _process = ConsulProcess.Start(arguments);
    }

    public string Name { get; }

    public Uri HttpAddress { get; }

    /// <summary>The server's Raft address as <c>/v1/status/leader</c> names it; null for a client agent.</summary>
    public string? RaftAddress { get; }

    public bool IsRunning => !_process.HasExited;

    public string OutputTail(int lines = 15) => _process.OutputTail(lines);

    /// <summary>A server (<paramref name="join"/>: the other servers' serf addresses) or a client agent, or a dev agent.</summary>
    public static ConsulNode Start(string role, string name, string ip, string dataDirectory, string? config, IEnumerable<string> join, int[]? ports = null)
    {
        var p = ports ?? FreePorts.Take(4, IPAddress.Parse(ip));
        var arguments = new List<string> { "agent" };
        if (role == "dev")
        {
            arguments.Add("-dev");
        }
        else
        {
            arguments.AddRange(["-data-dir", dataDirectory]);
        }

        if (role == "server")
        {
            arguments.AddRange(["-server", "-bootstrap-expect", "3"]);
        }

        arguments.AddRange([
            "-node", $"{ConsulProcess.RunId}-{name}-{p[0]}",
            "-bind", ip, "-client", ip,
            "-http-port", Text(p[0]), "-serf-lan-port", Text(p[1]), "-serf-wan-port", Text(p[2]), "-server-port", Text(p[3]),
            "-dns-port", "-1", "-grpc-port", "-1", "-log-level", "warn",
        ]);
        if (config is not null)
        {
            arguments.AddRange(["-config-file", config]);
        }

        foreach (var peer in join)
        {
            arguments.AddRange(["-retry-join", peer]);
        }

        return new ConsulNode(name, arguments, new Uri($"http://{ip}:{p[0]}"), role == "server" ? $"{ip}:{p[3]}" : null)
        {
            SerfAddress = $"{ip}:{p[1]}",
        };
    }

    /// <summary>Where other agents join this one.</summary>
    public string SerfAddress { get; private init; } = "";

    /// <summary>kill -9: no graceful leave, as a crash would.</summary>
    public Task KillAsync() => _process.KillAndWaitAsync();

    /// <summary>Starts the agent again with the same command line (a dev agent starts empty).</summary>
    public async Task RestartAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        _process = ConsulProcess.Start(_arguments);
    }

    public Task SuspendAsync() => Signal.SendAsync("STOP", _process.Id);

    public Task ResumeAsync() => Signal.SendAsync("CONT", _process.Id);

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);
}

/// <summary>POSIX signals .NET has no API to send.</summary>
public static class Signal
{
    public static async Task SendAsync(string signal, int processId)
    {
        var (exit, output) = await ChildProcess.RunAsync("kill", [$"-{signal}", processId.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (exit != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {processId} failed: {output}");
        }
    }
}
