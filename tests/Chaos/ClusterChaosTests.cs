using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// Six worker processes (two flows each, through generated [ConsulLocked] methods) on two client agents of a
/// 3-server cluster, contending for three keys, while the nemesis breaks one thing at a time and then several.
/// Short mode runs each scenario once (a few minutes); <c>CHAOS_SOAK_MINUTES=N</c> then loops the mixed nemesis for
/// N minutes. The checker's table is printed whatever happens; the test fails on any non-zero count that must be 0.
/// </summary>
public sealed class ClusterChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_settle = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Under_every_fault_no_two_holders_no_stale_write_no_false_loss_and_nothing_left_behind()
    {
        var clock = Stopwatch.StartNew();
        await using var cluster = await ChaosTopology.StartAsync();
        await using var run = await ChaosRun.StartAsync(cluster.Clients.Select(c => c.HttpAddress).ToList(), workersPerAgent: 3, flows: 2, ["a", "b", "c"], seed: Seed(), Log);
        var nemesis = new Nemesis(run, cluster);

        var soak = Environment.GetEnvironmentVariable("CHAOS_SOAK_MINUTES") is { Length: > 0 } minutes
            ? TimeSpan.FromMinutes(double.Parse(minutes, CultureInfo.InvariantCulture))
            : TimeSpan.Zero;
        Exception? broken = null;
        try
        {
            await run.ScenarioAsync("calm", None, s_settle);
            await run.ScenarioAsync("kill -9 leader, restart", One(() => nemesis.KillLeaderAsync(TimeSpan.FromSeconds(3))), s_settle);
            await run.ScenarioAsync("SIGSTOP leader 2 s", One(() => nemesis.SuspendLeaderAsync(TimeSpan.FromSeconds(2))), s_settle);
            await run.ScenarioAsync("kill -9 client agent, restart", One(() => nemesis.KillClientAsync(0, TimeSpan.FromSeconds(1))), s_settle);
            await run.ScenarioAsync("quorum lost 2 s", One(() => nemesis.LoseQuorumAsync(TimeSpan.FromSeconds(2))), TimeSpan.FromSeconds(8));
            await run.ScenarioAsync("holder's connection refused 3 s", One(() => nemesis.RefuseAsync(TimeSpan.FromSeconds(3))), s_settle);
            await run.ScenarioAsync("holder's requests delayed 1 s", One(() => nemesis.DelayAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8))), s_settle);
            await run.ScenarioAsync("holder's requests delayed 6 s", One(() => nemesis.DelayAsync(TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(12))), s_settle);
            await run.ScenarioAsync("holder blackholed 3 s", One(() => nemesis.BlackholeAsync(TimeSpan.FromSeconds(3))), s_settle);
            await run.ScenarioAsync("holder blackholed 12 s", One(() => nemesis.BlackholeAsync(TimeSpan.FromSeconds(12))), s_settle);
            // Past 2 TTL (when Consul invalidates at the latest) plus the lock-delay: another worker gets the key while the
            // holder sleeps, and the holder's writes after waking must be fenced off.
            await run.ScenarioAsync("SIGSTOP holder 38 s (2 TTL + delay)", One(() => nemesis.SuspendHolderAsync(TimeSpan.FromSeconds(38))), s_settle);
            await run.ScenarioAsync("operator destroys session", One(nemesis.DestroySessionAsync), s_settle);
            await run.ScenarioAsync("operator deletes held key", One(nemesis.DeleteKeyAsync), s_settle);
            await run.ScenarioAsync("operator force-releases key", One(nemesis.ForceReleaseAsync), s_settle);
            await run.ScenarioAsync("mixed: leader kill + blackhole + delay", () => Mixed(nemesis, 0), s_settle);

            var soakClock = Stopwatch.StartNew();
            for (var round = 1; soakClock.Elapsed < soak; round++)
            {
                await run.ScenarioAsync($"soak {round}: mixed", () => Mixed(nemesis, round), s_settle);
            }

            // Long enough for every key to be granted again after the worst the last fault may leave: a session that
            // Consul invalidates up to 2 TTL after its last renewal, then the lock-delay (15 s).
            await run.ScenarioAsync("calm after all", None, TimeSpan.FromSeconds(30));
        }
        catch (Exception ex)
        {
            // The harness itself broke (a server that would not come back, a fault that found no holder): still print
            // what the history shows, and fail with the reason.
            broken = ex;
        }

        await ChaosReport.FinishAsync(run, () => cluster.LeftoversAsync(), soak > TimeSpan.Zero ? "cluster-soak" : "cluster", output, clock.Elapsed, broken);
    }

    /// <summary>A cluster fault and, at the same time, one or two worker faults, chosen by the round.</summary>
    private static async Task<IReadOnlyList<Fault>> Mixed(Nemesis nemesis, int round)
    {
        var random = new Random(round);
        Func<Task<Fault>>[] clusterFaults =
        [
            () => nemesis.KillLeaderAsync(TimeSpan.FromSeconds(random.Next(1, 5))),
            () => nemesis.SuspendLeaderAsync(TimeSpan.FromSeconds(random.Next(1, 4))),
            () => nemesis.KillClientAsync(random.Next(2), TimeSpan.FromSeconds(random.Next(0, 3))),
            () => nemesis.LoseQuorumAsync(TimeSpan.FromSeconds(random.Next(1, 6))),
        ];
        Func<Task<Fault>>[] workerFaults =
        [
            () => nemesis.RefuseAsync(TimeSpan.FromSeconds(random.Next(1, 13))),
            () => nemesis.BlackholeAsync(TimeSpan.FromSeconds(random.Next(1, 13))),
            () => nemesis.DelayAsync(TimeSpan.FromMilliseconds(random.Next(100, 7000)), TimeSpan.FromSeconds(random.Next(3, 12))),
            () => nemesis.SuspendHolderAsync(TimeSpan.FromSeconds(random.Next(1, 25))),
            nemesis.DestroySessionAsync,
            nemesis.DeleteKeyAsync,
            nemesis.ForceReleaseAsync,
        ];
        var chosen = new List<Func<Task<Fault>>> { round == 0 ? clusterFaults[0] : clusterFaults[random.Next(clusterFaults.Length)] };
        chosen.Add(round == 0 ? () => nemesis.BlackholeAsync(TimeSpan.FromSeconds(3)) : workerFaults[random.Next(workerFaults.Length)]);
        chosen.Add(round == 0 ? () => nemesis.DelayAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)) : workerFaults[random.Next(workerFaults.Length)]);
        return await Task.WhenAll(chosen.Select(f => f())).ConfigureAwait(false);
    }

    private static Func<Task<IReadOnlyList<Fault>>> One(Func<Task<Fault>> fault) => async () => [await fault().ConfigureAwait(false)];

    private static Task<IReadOnlyList<Fault>> None() => Task.FromResult<IReadOnlyList<Fault>>([]);

    private static int Seed() => Environment.GetEnvironmentVariable("CHAOS_SEED") is { Length: > 0 } seed ? int.Parse(seed, CultureInfo.InvariantCulture) : 1;

    private void Log(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
