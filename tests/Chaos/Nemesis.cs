using System.Diagnostics;
using System.Net;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// The faults, each injected and healed in one call that returns what it did on the monotonic clock. Rule for
/// <see cref="Fault.MayCauseLoss"/> (docs/reliability.md): a holder renews at TTL/2, so its last acknowledged renewal
/// may be up to TTL/2 old when a fault starts; an outage of at least TTL/2 may therefore legitimately end in a
/// lost-token, a shorter one may not. Operator actions and state loss always may; they are evidence.
/// </summary>
public sealed class Nemesis(ChaosRun run, ChaosTopology? cluster)
{
    private static readonly TimeSpan s_ready = TimeSpan.FromSeconds(90);

    /// <summary>The flag value of a lock key (Consul's Go client's, which the library shares).</summary>
    private const ulong LockFlag = 0x2ddccbc058a50c18;
    private readonly HashSet<string> _busy = [];

    // When each restarted server had replayed its Raft log (by when it agreed on the leader again), by server index.
    private readonly Dictionary<int, long> _replayedAt = [];

    private ChaosTopology Cluster => cluster ?? throw new InvalidOperationException("This run has no cluster.");

    public static bool OutageMayCauseLoss(long start, long heal) => heal - start >= Checker.Ticks(ChaosRun.SessionTtl / 2);

    /// <summary>kill -9 the leader; the others elect a new one; the old one is restarted after <paramref name="down"/>.</summary>
    public async Task<Fault> KillLeaderAsync(TimeSpan down)
    {
        var leader = await LeaderAsync().ConfigureAwait(false);
        var start = Stopwatch.GetTimestamp();
        await Cluster.Servers[leader].KillAsync().ConfigureAwait(false);
        var elected = await Cluster.WaitForServiceAsync(s_ready).ConfigureAwait(false);
        await Task.Delay(down).ConfigureAwait(false);
        await Cluster.Servers[leader].RestartAsync().ConfigureAwait(false);
        await WaitForAllServersAsync().ConfigureAwait(false);
        Replayed(leader);
        return new Fault($"kill -9 leader {Cluster.Servers[leader].Name}", start, elected, null, OutageMayCauseLoss(start, elected))
        {
            ReplayedLockDelayUntil = await ReplayedLockDelayOfLeaderAsync().ConfigureAwait(false),
        };
    }

    /// <summary>SIGSTOP the leader for <paramref name="pause"/>, then SIGCONT.</summary>
    public async Task<Fault> SuspendLeaderAsync(TimeSpan pause)
    {
        var leader = await LeaderAsync().ConfigureAwait(false);
        var start = Stopwatch.GetTimestamp();
        await Cluster.Servers[leader].SuspendAsync().ConfigureAwait(false);
        try
        {
            await Task.Delay(pause).ConfigureAwait(false);
        }
        finally
        {
            await Cluster.Servers[leader].ResumeAsync().ConfigureAwait(false);
        }

        var healed = await Cluster.WaitForServiceAsync(s_ready).ConfigureAwait(false);
        return new Fault($"SIGSTOP leader {Cluster.Servers[leader].Name} {pause.TotalSeconds:F0} s", start, healed, null, OutageMayCauseLoss(start, healed))
        {
            ReplayedLockDelayUntil = await ReplayedLockDelayOfLeaderAsync().ConfigureAwait(false),
        };
    }

    /// <summary>kill -9 a client agent, restart it after <paramref name="down"/>; its workers see refused connections.</summary>
    public async Task<Fault> KillClientAsync(int index, TimeSpan down)
    {
        var node = Cluster.Clients[index];
        var start = Stopwatch.GetTimestamp();
        await node.KillAsync().ConfigureAwait(false);
        await Task.Delay(down).ConfigureAwait(false);
        await node.RestartAsync().ConfigureAwait(false);
        var healed = await ChaosTopology.WaitForAgentAsync(node, s_ready).ConfigureAwait(false);
        return new Fault($"kill -9 {node.Name}, restart", start, healed, WorkersOn(index), OutageMayCauseLoss(start, healed));
    }

    /// <summary>kill -9 two of the three servers (the leader among them), restart them after <paramref name="down"/>.</summary>
    public async Task<Fault> LoseQuorumAsync(TimeSpan down)
    {
        var leader = await LeaderAsync().ConfigureAwait(false);
        var victims = new[] { leader, (leader + 1) % 3 };
        var start = Stopwatch.GetTimestamp();
        foreach (var victim in victims)
        {
            await Cluster.Servers[victim].KillAsync().ConfigureAwait(false);
        }

        await Task.Delay(down).ConfigureAwait(false);
        foreach (var victim in victims)
        {
            await Cluster.Servers[victim].RestartAsync().ConfigureAwait(false);
        }

        var healed = await Cluster.WaitForServiceAsync(s_ready).ConfigureAwait(false);
        await WaitForAllServersAsync().ConfigureAwait(false);
        foreach (var victim in victims)
        {
            Replayed(victim);
        }

        return new Fault($"quorum lost (2 of 3 killed) {down.TotalSeconds:F0} s", start, healed, null, OutageMayCauseLoss(start, healed))
        {
            ReplayedLockDelayUntil = await ReplayedLockDelayOfLeaderAsync().ConfigureAwait(false),
        };
    }

    /// <summary>SIGSTOP a worker that holds a key for <paramref name="pause"/>, then SIGCONT: it cannot know it lost the key.</summary>
    public async Task<Fault> SuspendHolderAsync(TimeSpan pause)
    {
        var worker = (await HolderAsync(requireSession: false).ConfigureAwait(false)).Worker;
        var start = Stopwatch.GetTimestamp();
        try
        {
            await run.Worker(worker).SuspendAsync().ConfigureAwait(false);
            await Task.Delay(pause).ConfigureAwait(false);
        }
        finally
        {
            await run.Worker(worker).ResumeAsync().ConfigureAwait(false);
            Release(worker);
        }

        return new Fault($"SIGSTOP {worker} {pause.TotalSeconds:F0} s", start, Stopwatch.GetTimestamp(), [worker], MayCauseLoss: true, FaultExcuse.HolderSuspended);
    }

    /// <summary>A holder's connection to its agent refused (new connections) and reset (open ones) for <paramref name="length"/>.</summary>
    public Task<Fault> RefuseAsync(TimeSpan length) =>
        ConnectionFaultAsync($"refuse {length.TotalSeconds:F0} s", length, p => p.RefuseAsync());

    /// <summary>A holder's connection to its agent: accepted, nothing moves, for <paramref name="length"/>.</summary>
    public Task<Fault> BlackholeAsync(TimeSpan length) =>
        ConnectionFaultAsync($"blackhole {length.TotalSeconds:F0} s", length, p =>
        {
            p.Blackhole();
            return Task.CompletedTask;
        });

    /// <summary>Every request of a holder reaches its agent <paramref name="delay"/> late, for <paramref name="length"/>.</summary>
    public Task<Fault> DelayAsync(TimeSpan delay, TimeSpan length) =>
        ConnectionFaultAsync($"delay {delay.TotalSeconds:F1} s for {length.TotalSeconds:F0} s", length, p =>
        {
            p.Delay(delay);
            return Task.CompletedTask;
        }, mayCauseLoss: delay >= ChaosRun.SessionTtl / 3, drain: delay);

    /// <summary>An operator destroys a holder's session: Consul invalidates it and applies the lock-delay.</summary>
    public Task<Fault> DestroySessionAsync() =>
        OperatorAsync("operator destroys the session", FaultExcuse.None, (server, key, session) =>
            ConsulHttp.SendAsync(HttpMethod.Put, server, "/v1/session/destroy/" + session), lockDelayOnKey: true);

    /// <summary>An operator deletes a held key: no lock-delay, the key is free at once.</summary>
    public Task<Fault> DeleteKeyAsync() =>
        OperatorAsync("operator deletes the key", FaultExcuse.HandoverWithoutLockDelay, (server, key, session) =>
            ConsulHttp.SendAsync(HttpMethod.Delete, server, "/v1/kv/chaos/" + key));

    /// <summary>
    /// An operator force-releases a held key with the holder's session (<c>?release=</c>): no lock-delay. A KV PUT
    /// also writes the value and the flags; without <c>flags=</c> it would set them to 0 and leave a key that is no
    /// lock any more (every later acquire: <c>ConsulLockConflictException</c>), so the operator passes the lock flag.
    /// </summary>
    public Task<Fault> ForceReleaseAsync() =>
        OperatorAsync("operator force-releases the key", FaultExcuse.HandoverWithoutLockDelay, (server, key, session) =>
            ConsulHttp.SendAsync(HttpMethod.Put, server, $"/v1/kv/chaos/{key}?release={session}&flags={LockFlag}"));

    /// <summary>kill -9 a dev agent and start it again on the same ports: every session and key is gone, indexes restart.</summary>
    public static async Task<Fault> RestartDevAgentAsync(ConsulNode agent)
    {
        var start = Stopwatch.GetTimestamp();
        await agent.KillAsync().ConfigureAwait(false);
        await agent.RestartAsync().ConfigureAwait(false);
        var healed = await ChaosTopology.WaitForAgentAsync(agent, s_ready).ConfigureAwait(false);
        return new Fault("dev agent restarted, state lost", start, healed, null, MayCauseLoss: true, FaultExcuse.StateLost);
    }

    /// <param name="drain">How long chunks already held back by the fault still take to pass after the proxy heals
    /// (a delay's chunks wait their full delay): the heal is when the connection forwards plainly again.</param>
    private async Task<Fault> ConnectionFaultAsync(string name, TimeSpan length, Func<FaultProxy, Task> inject, bool? mayCauseLoss = null, TimeSpan drain = default)
    {
        var worker = (await HolderAsync(requireSession: false).ConfigureAwait(false)).Worker;
        try
        {
            var proxy = run.ProxyOf(worker);
            var start = Stopwatch.GetTimestamp();
            await inject(proxy).ConfigureAwait(false);
            await Task.Delay(length).ConfigureAwait(false);
            proxy.Heal();
            await Task.Delay(drain).ConfigureAwait(false);
            var healed = Stopwatch.GetTimestamp();
            return new Fault($"{worker}: {name}", start, healed, [worker], mayCauseLoss ?? OutageMayCauseLoss(start, healed));
        }
        finally
        {
            Release(worker);
        }
    }

    private async Task<Fault> OperatorAsync(
        string name, FaultExcuse excuse, Func<Uri, string, string, Task<(HttpStatusCode, string)>> act, bool lockDelayOnKey = false)
    {
        string worker, key, session;
        try
        {
            (worker, key, session) = await HolderAsync(requireSession: true).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Nobody holds anything (the engine may be stuck): nothing to act on. The liveness check and the
            // heal-to-grant figure show the stall; the run goes on.
            var now = Stopwatch.GetTimestamp();
            return new Fault($"{name}: skipped, no worker held a key for 10 s", now, now, [], MayCauseLoss: false);
        }

        Release(worker);
        var start = Stopwatch.GetTimestamp();
        // In a mixed round a cluster fault may have any agent down or no leader at this moment: like an operator,
        // try every agent until one carries the action out. The fault's window covers the retries, and the checker
        // excuses a handover anywhere in it.
        var deadline = start + Checker.Ticks(s_ready);
        var last = "";
        while (true)
        {
            foreach (var agent in Cluster.Servers.Concat(Cluster.Clients).Where(n => n.IsRunning))
            {
                try
                {
                    var (status, body) = await act(agent.HttpAddress, key, session).ConfigureAwait(false);
                    if (status == HttpStatusCode.OK)
                    {
                        return new Fault(
                            $"{name} ({worker}, {key})", start, Stopwatch.GetTimestamp(), [worker], MayCauseLoss: true, excuse, key, LockDelayOnKey: lockDelayOnKey, Session: session);
                    }

                    last = $"{(int)status} {body}";
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                    last = ex.Message;
                }
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new InvalidOperationException($"{name} failed on every agent for {s_ready.TotalSeconds} s: {last}");
            }

            await Task.Delay(200).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A worker that holds a key now and that no other fault of this moment is using (waits up to 10 s for one),
    /// reserved until <see cref="Release"/>. Without a holder, any free worker will do unless a session is needed.
    /// </summary>
    private async Task<(string Worker, string Key, string Session)> HolderAsync(bool requireSession)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            lock (_busy)
            {
                var holder = run.Holders().FirstOrDefault(h => !_busy.Contains(h.Worker));
                if (holder.Worker is not null)
                {
                    _busy.Add(holder.Worker);
                    return holder;
                }
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        lock (_busy)
        {
            var free = run.Workers.FirstOrDefault(w => !_busy.Contains(w.Name));
            if (requireSession || free is null)
            {
                throw new InvalidOperationException("No free worker held a key for 10 s.");
            }

            _busy.Add(free.Name);
            return (free.Name, "", "");
        }
    }

    private void Release(string worker)
    {
        lock (_busy)
        {
            _busy.Remove(worker);
        }
    }

    private List<string> WorkersOn(int client) =>
        run.Workers.Where((_, i) => i % Cluster.Clients.Count == client).Select(w => w.Name).ToList();

    private void Replayed(int server)
    {
        lock (_replayedAt)
        {
            _replayedAt[server] = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>
    /// Consul keeps lock-delays as wall-clock timers in each server's memory, armed as the server applies a session's
    /// end from its Raft log, and only the leader enforces them. A restarted server applies its log since the last
    /// snapshot again, re-arming the lock-delay of every key whose session ended in it, counted from the replay: when
    /// such a server leads, it refuses those keys (here any of ours) for up to a lock-delay after its restart. The soak
    /// saw it after quorum losses, and after a later leader change handed the lead to a restarted server: every key
    /// stalled 13-16 s. Returns until when, when the leader now is such a server.
    /// </summary>
    private async Task<long?> ReplayedLockDelayOfLeaderAsync()
    {
        await Cluster.WaitForLeaderAsync(s_ready).ConfigureAwait(false);
        if (await Cluster.LeaderAsync().ConfigureAwait(false) is not { } leader)
        {
            return null;
        }

        lock (_replayedAt)
        {
            return _replayedAt.TryGetValue(leader, out var at) && at + Checker.Ticks(ChaosRun.LockDelay) > Stopwatch.GetTimestamp()
                ? at + Checker.Ticks(ChaosRun.LockDelay)
                : null;
        }
    }

    private async Task<int> LeaderAsync()
    {
        await Cluster.WaitForLeaderAsync(s_ready).ConfigureAwait(false);
        return await Cluster.LeaderAsync().ConfigureAwait(false) ?? throw new InvalidOperationException("No leader.");
    }

    private async Task WaitForAllServersAsync()
    {
        // The restarted server counts once it agrees on the leader with the others.
        var deadline = Stopwatch.GetTimestamp() + Checker.Ticks(s_ready);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var agreed = 0;
            foreach (var server in Cluster.Servers)
            {
                try
                {
                    if ((await ConsulHttp.LeaderAsync(server.HttpAddress).ConfigureAwait(false)).Length > 0)
                    {
                        agreed++;
                    }
                }
                catch (HttpRequestException)
                {
                }
            }

            if (agreed == Cluster.Servers.Count && await Cluster.LeaderAsync().ConfigureAwait(false) is not null)
            {
                return;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException("A restarted server did not rejoin.");
    }
}
