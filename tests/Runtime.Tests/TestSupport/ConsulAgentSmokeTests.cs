using System.Diagnostics;
using System.Net;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.TestSupport;

/// <summary>The fixtures the engine tests stand on: each starts a real Consul that answers, and stops it.</summary>
public sealed class ConsulAgentSmokeTests
{
    [Fact]
    public async Task Dev_agent_answers_a_KV_round_trip_and_its_process_ends_on_dispose()
    {
        int pid;
        Uri address;
        await using (var agent = await ConsulAgent.StartDevAsync())
        {
            address = agent.Address;
            var (put, _) = await ConsulHttp.SendAsync(HttpMethod.Put, agent.Address, "/v1/kv/smoke/hello", "world");
            Assert.Equal(HttpStatusCode.OK, put);
            var (get, body) = await ConsulHttp.SendAsync(HttpMethod.Get, agent.Address, "/v1/kv/smoke/hello?raw");
            Assert.Equal(HttpStatusCode.OK, get);
            Assert.Equal("world", body);
            pid = AgentPid(agent.Address);
        }

        Assert.False(IsRunning(pid), $"consul process {pid} still runs after DisposeAsync");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => ConsulHttp.SendAsync(HttpMethod.Get, address, "/v1/status/leader"));
    }

    [Fact]
    public async Task Acl_agent_denies_anonymous_writes_and_accepts_the_master_token_and_policy_tokens()
    {
        await using var agent = await ConsulAgent.StartWithAclAsync();
        Assert.NotNull(agent.MasterToken);

        var (anonymous, _) = await ConsulHttp.SendAsync(HttpMethod.Put, agent.Address, "/v1/kv/acl/x", "1");
        Assert.Equal(HttpStatusCode.Forbidden, anonymous);

        var (master, _) = await ConsulHttp.SendAsync(HttpMethod.Put, agent.Address, "/v1/kv/acl/x", "1", agent.MasterToken);
        Assert.Equal(HttpStatusCode.OK, master);

        var readOnly = await agent.CreateTokenAsync("key_prefix \"\" { policy = \"read\" }");
        var (read, _) = await ConsulHttp.SendAsync(HttpMethod.Get, agent.Address, "/v1/kv/acl/x", token: readOnly);
        var (write, _) = await ConsulHttp.SendAsync(HttpMethod.Put, agent.Address, "/v1/kv/acl/x", "2", readOnly);
        Assert.Equal(HttpStatusCode.OK, read);
        Assert.Equal(HttpStatusCode.Forbidden, write);
    }

    [Fact]
    public async Task Cluster_elects_a_leader_and_a_new_one_after_the_leader_is_killed()
    {
        await using var cluster = await ConsulCluster.StartAsync();
        Assert.Equal(3, cluster.Addresses.Count);
        var before = await ConsulHttp.LeaderAsync(cluster.Addresses[0]);
        Assert.NotEmpty(before);

        var killed = await cluster.KillLeaderAsync();
        await cluster.WaitForLeaderAsync();

        var survivor = cluster.Addresses[(killed + 1) % 3];
        var after = await ConsulHttp.LeaderAsync(survivor);
        Assert.NotEmpty(after);
        Assert.NotEqual(before, after);
        var (put, _) = await ConsulHttp.SendAsync(HttpMethod.Put, survivor, "/v1/kv/after-failover", "ok");
        Assert.Equal(HttpStatusCode.OK, put);
    }

    [Fact]
    public async Task Proxy_forwards_and_while_blackholed_nothing_answers_until_healed()
    {
        await using var agent = await ConsulAgent.StartDevAsync();
        await using var proxy = FaultProxy.Start(agent.Address);

        Assert.NotEmpty(await ConsulHttp.LeaderAsync(proxy.Address));

        proxy.Blackhole();
        var pending = ConsulHttp.LeaderAsync(proxy.Address);
        // Nothing signals "no answer yet"; give a blackholed request ample time to (wrongly) complete.
        var first = await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.NotSame(pending, first);

        proxy.Heal();
        Assert.NotEmpty(await pending.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static int AgentPid(Uri address)
    {
        // The agent's own answer names its process through /v1/agent/self → Config; simpler and independent of
        // Consul's schema: find the consul process whose command line holds this agent's HTTP port.
        var port = address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                var index = Array.IndexOf(commandLine, "-http-port");
                if (index >= 0 && index + 1 < commandLine.Length && commandLine[index + 1] == port)
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        throw new InvalidOperationException($"No consul process serves port {port}.");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
