using System.Diagnostics;
using System.Net;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// Three Consul servers on 127.0.0.11-13 (own data folders, <c>-bootstrap-expect 3</c>, <c>raft_multiplier = 1</c>:
/// elections in a second or two instead of ~10 s) and two client agents on 127.0.0.21-22 that the workers talk to.
/// </summary>
public sealed class ChaosTopology : IAsyncDisposable
{
    private readonly string _workDirectory;

    private ChaosTopology(string workDirectory, IReadOnlyList<ConsulNode> servers, IReadOnlyList<ConsulNode> clients)
    {
        _workDirectory = workDirectory;
        Servers = servers;
        Clients = clients;
    }

    public IReadOnlyList<ConsulNode> Servers { get; }

    public IReadOnlyList<ConsulNode> Clients { get; }

    public static async Task<ChaosTopology> StartAsync(CancellationToken cancellationToken = default)
    {
        var work = Directory.CreateTempSubdirectory("consullock-chaos-").FullName;
        var config = Path.Combine(work, "timing.hcl");
        await File.WriteAllTextAsync(config, "performance { raft_multiplier = 1 }\n", cancellationToken).ConfigureAwait(false);
        var servers = new List<ConsulNode>();
        var clients = new List<ConsulNode>();
        var topology = new ChaosTopology(work, servers, clients);
        try
        {
            // Ports chosen up front, so that every server's command line names the other two (also after a restart).
            string[] ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
            var ports = ips.Select(ip => FreePorts.Take(4, IPAddress.Parse(ip))).ToArray();
            var serfs = ips.Select((ip, i) => $"{ip}:{ports[i][1]}").ToList();
            for (var i = 0; i < ips.Length; i++)
            {
                servers.Add(ConsulNode.Start("server", $"server{i}", ips[i], Path.Combine(work, $"server{i}"), config, serfs.Where((_, j) => j != i), ports[i]));
            }

            await topology.WaitForLeaderAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            string[] clientIps = ["127.0.0.21", "127.0.0.22"];
            for (var i = 0; i < clientIps.Length; i++)
            {
                clients.Add(ConsulNode.Start("client", $"client{i}", clientIps[i], Path.Combine(work, $"client{i}"), config, serfs));
            }

            foreach (var client in clients)
            {
                await WaitForAgentAsync(client, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            }

            return topology;
        }
        catch
        {
            await topology.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The index of the server the live servers agree is the leader, or null.</summary>
    public async Task<int?> LeaderAsync(CancellationToken cancellationToken = default)
    {
        string? agreed = null;
        foreach (var server in Servers.Where(s => s.IsRunning))
        {
            string leader;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(2));
                leader = await ConsulHttp.LeaderAsync(server.HttpAddress, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // A suspended server does not answer; it has no say.
                continue;
            }

            if (leader.Length == 0 || (agreed is not null && agreed != leader))
            {
                return null;
            }

            agreed = leader;
        }

        var index = Servers.ToList().FindIndex(s => s.RaftAddress == agreed && s.IsRunning);
        return index < 0 ? null : index;
    }

    /// <summary>Waits until a leader is agreed and a KV write through it succeeds; returns the monotonic time of that.</summary>
    public async Task<long> WaitForLeaderAsync(TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.GetTimestamp() + Checker.Ticks(limit);
        while (true)
        {
            if (await LeaderAsync(cancellationToken).ConfigureAwait(false) is { } leader && await CanWriteAsync(Servers[leader].HttpAddress, cancellationToken).ConfigureAwait(false))
            {
                return Stopwatch.GetTimestamp();
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"No leader within {limit}:\n" + string.Join("\n", Servers.Select(s => s.Name + ": " + s.OutputTail(8))));
            }

            // Raft offers no event to await from outside; poll.
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until the service is back as the workers see it: a writable leader, and a write through every client
    /// agent succeeding (a client agent may still be failing over to the new leader when the servers already agree).
    /// Returns the monotonic time of that: the heal of a cluster fault.
    /// </summary>
    public async Task<long> WaitForServiceAsync(TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var healed = await WaitForLeaderAsync(limit, cancellationToken).ConfigureAwait(false);
        foreach (var client in Clients.Where(c => c.IsRunning))
        {
            healed = Math.Max(healed, await WaitForAgentAsync(client, limit, cancellationToken).ConfigureAwait(false));
        }

        return healed;
    }

    /// <summary>Waits until an agent answers and its node is registered (sessions need that).</summary>
    public static async Task<long> WaitForAgentAsync(ConsulNode node, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.GetTimestamp() + Checker.Ticks(limit);
        while (true)
        {
            try
            {
                var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, node.HttpAddress, "/v1/catalog/nodes", cancellationToken: cancellationToken).ConfigureAwait(false);
                if (status == HttpStatusCode.OK && body.Contains($"-{node.Name}-", StringComparison.Ordinal) && await CanWriteAsync(node.HttpAddress, cancellationToken).ConfigureAwait(false))
                {
                    return Stopwatch.GetTimestamp();
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{node.Name} not ready within {limit}:\n{node.OutputTail()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Keys under <c>chaos/</c> that a session holds, keys under it that nobody holds (a lock key or a queue entry left
    /// behind), and all sessions, read from a server.
    /// </summary>
    public async Task<Leftovers> LeftoversAsync(CancellationToken cancellationToken = default)
    {
        var server = Servers.First(s => s.IsRunning).HttpAddress;
        return await LeftoversAsync(server, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<Leftovers> LeftoversAsync(Uri server, CancellationToken cancellationToken = default)
    {
        var held = new List<string>();
        var unheld = new List<string>();
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, server, "/v1/kv/chaos/?recurse&consistent", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (status == HttpStatusCode.OK)
        {
            using var document = JsonDocument.Parse(body);
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                var key = entry.GetProperty("Key").GetString();
                if (entry.TryGetProperty("Session", out var session) && session.GetString() is { Length: > 0 } holder)
                {
                    held.Add(key + " by " + holder);
                }
                else
                {
                    unheld.Add(key!);
                }
            }
        }

        (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, server, "/v1/session/list?consistent", cancellationToken: cancellationToken).ConfigureAwait(false);
        using var sessions = JsonDocument.Parse(body);
        return new Leftovers(held, unheld, sessions.RootElement.EnumerateArray().Select(e => e.GetProperty("ID").GetString() + " (" + e.GetProperty("Node").GetString() + ")").ToList());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Clients.Concat(Servers))
        {
            try
            {
                // A suspended process dies of SIGKILL too; resuming first is not needed.
                await node.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
            }
        }

        ConsulAgent.TryDeleteDirectory(_workDirectory);
    }

    private static async Task<bool> CanWriteAsync(Uri address, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Put, address, "/v1/kv/chaos-probe", "1", cancellationToken: timeout.Token).ConfigureAwait(false);
            return status == HttpStatusCode.OK;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}

/// <summary>What the workers left in Consul after they stopped: all must be empty.</summary>
public sealed record Leftovers(IReadOnlyList<string> HeldKeys, IReadOnlyList<string> UnheldKeys, IReadOnlyList<string> Sessions);
