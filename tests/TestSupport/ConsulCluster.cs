using System.Globalization;
using System.Net;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// Three Consul servers on 127.0.0.11, .12 and .13 (each with its own data folder and free ports), for tests that
/// need a leader change. Election takes a few seconds; only tests that need a cluster should start one.
/// </summary>
public sealed class ConsulCluster : IAsyncDisposable
{
    private static readonly TimeSpan s_leaderTimeout = TimeSpan.FromSeconds(60);
    private readonly Server[] _servers;
    private readonly string _workDirectory;

    private ConsulCluster(Server[] servers, string workDirectory)
    {
        _servers = servers;
        _workDirectory = workDirectory;
    }

    /// <summary>The HTTP API addresses of the servers, in start order.</summary>
    public IReadOnlyList<Uri> Addresses => _servers.Select(s => s.HttpAddress).ToArray();

    public static async Task<ConsulCluster> StartAsync(CancellationToken cancellationToken = default)
    {
        var workDirectory = Directory.CreateTempSubdirectory("consullock-cluster-").FullName;
        var ips = new[] { "127.0.0.11", "127.0.0.12", "127.0.0.13" };
        var ports = ips.Select(ip => FreePorts.Take(4, IPAddress.Parse(ip))).ToArray();
        var config = Path.Combine(workDirectory, "fast-raft.hcl");
        // Dev-like Raft timing: elections in a second or two instead of the production default's ~10 s.
        await File.WriteAllTextAsync(config, "performance { raft_multiplier = 1 }\n", cancellationToken).ConfigureAwait(false);

        var servers = new Server[ips.Length];
        var cluster = new ConsulCluster(servers, workDirectory);
        try
        {
            for (var i = 0; i < ips.Length; i++)
            {
                var p = ports[i];
                var arguments = new List<string>
                {
                    "agent", "-server", "-bootstrap-expect", "3",
                    "-node", $"{ConsulProcess.RunId}-server-{i}-{p[0]}",
                    "-data-dir", Path.Combine(workDirectory, "server" + i.ToString(CultureInfo.InvariantCulture)),
                    "-config-file", config,
                    "-bind", ips[i], "-client", ips[i],
                    "-http-port", Text(p[0]), "-serf-lan-port", Text(p[1]), "-serf-wan-port", Text(p[2]), "-server-port", Text(p[3]),
                    "-dns-port", "-1", "-grpc-port", "-1", "-log-level", "warn",
                };
                for (var j = 0; j < ips.Length; j++)
                {
                    if (j != i)
                    {
                        arguments.Add("-retry-join");
                        arguments.Add($"{ips[j]}:{ports[j][1]}");
                    }
                }

                servers[i] = new Server(ConsulProcess.Start(arguments), new Uri($"http://{ips[i]}:{p[0]}"), $"{ips[i]}:{p[3]}");
            }

            await cluster.WaitForLeaderAsync(cancellationToken).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Kills the current leader (no graceful leave) and returns its index in <see cref="Addresses"/>.</summary>
    public async Task<int> KillLeaderAsync()
    {
        var leader = await CurrentLeaderAsync(CancellationToken.None).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The cluster has no leader to kill.");
        await _servers[leader].Process.KillAndWaitAsync().ConfigureAwait(false);
        return leader;
    }

    /// <summary>Waits until the live servers agree on a live leader.</summary>
    public async Task WaitForLeaderAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(s_leaderTimeout);
        try
        {
            while (await CurrentLeaderAsync(timeout.Token).ConfigureAwait(false) is null)
            {
                // Raft offers no event to await from outside; poll.
                await Task.Delay(100, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var tails = string.Join(Environment.NewLine, _servers.Where(s => s is not null).Select(s => s.Process.OutputTail(10)));
            throw new TimeoutException($"The cluster had no leader within {s_leaderTimeout.TotalSeconds} s:{Environment.NewLine}{tails}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers.Where(s => s is not null))
        {
            await server.Process.DisposeAsync().ConfigureAwait(false);
        }

        ConsulAgent.TryDeleteDirectory(_workDirectory);
    }

    private async Task<int?> CurrentLeaderAsync(CancellationToken cancellationToken)
    {
        string? agreed = null;
        foreach (var server in _servers.Where(s => s is not null && !s.Process.HasExited))
        {
            string leader;
            try
            {
                leader = await ConsulHttp.LeaderAsync(server.HttpAddress, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException)
            {
                return null;
            }

            if (leader.Length == 0 || (agreed is not null && agreed != leader))
            {
                return null;
            }

            agreed = leader;
        }

        var index = Array.FindIndex(_servers, s => s.RaftAddress == agreed && !s.Process.HasExited);
        return index < 0 ? null : index;
    }

    private static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);

    private sealed record Server(ConsulProcess Process, Uri HttpAddress, string RaftAddress);
}
