using System.Diagnostics;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// A dev agent (state in memory) restarted under load: every session and key vanishes and Consul's indexes start
/// again from 1. Holders must see the loss; waiters must not hang on an index that will not come back. Each worker
/// also campaigns for the key "leader" ([ConsulLeader], the leader workload): one term at a time through the restart.
/// </summary>
public sealed class DevAgentChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_dev_agent_that_loses_its_state_reports_the_losses_and_grants_again()
    {
        var clock = Stopwatch.StartNew();
        var work = Directory.CreateTempSubdirectory("consullock-chaos-dev-").FullName;
        try
        {
            await using var agent = ConsulNode.Start("dev", "dev", "127.0.0.31", work, null, []);
            await ChaosTopology.WaitForAgentAsync(agent, TimeSpan.FromSeconds(60));
            await using var run = await ChaosRun.StartAsync([agent.HttpAddress], workersPerAgent: 4, flows: 1, ["a", "b", "leader"], seed: 100, Log);

            await run.ScenarioAsync("calm (dev agent)", () => Task.FromResult<IReadOnlyList<Fault>>([]), TimeSpan.FromSeconds(5));
            await run.ScenarioAsync("dev agent restarted, state lost", async () => [await Nemesis.RestartDevAgentAsync(agent)], TimeSpan.FromSeconds(15));
            await run.ScenarioAsync("calm after restart", () => Task.FromResult<IReadOnlyList<Fault>>([]), TimeSpan.FromSeconds(10));
            var terms = Checker.Sections(run.Register.Snapshot()).Where(s => s.Key == "leader").ToList();
            Log($"leader terms: {terms.Count}, led by {terms.Select(t => t.Flow).Distinct().Count()} of {run.Workers.Count} workers ({terms.Count(t => t.Lost is not null)} lost)");
            Assert.True(terms.Count >= 3, $"only {terms.Count} leader terms");
            await ChaosReport.FinishAsync(run, () => LeftoversAsync(run, agent.HttpAddress), "dev-agent", output, clock.Elapsed);
        }
        finally
        {
            ConsulAgent.TryDeleteDirectory(work);
        }
    }

    /// <summary>
    /// Leftovers once the workers stopped: strict, as in the cluster test. Only the sessions of a worker that had to be
    /// killed (it did not stop cleanly, which fails the run anyway) end when Consul ends them, so then the sessions
    /// are looked at again until they are gone or two TTLs have passed. A session whose create answer was lost as the
    /// agent restarted is no excuse any more: the engine names each create attempt, finds such a session and destroys
    /// it, and provider disposal waits for that (issue 18).
    /// </summary>
    private async Task<Leftovers> LeftoversAsync(ChaosRun run, Uri agent)
    {
        var first = await ChaosTopology.LeftoversAsync(agent);
        var leftovers = first;
        var waited = Stopwatch.StartNew();
        while (leftovers.Sessions.Count > 0 && run.Workers.Any(w => !w.StoppedCleanly) && waited.Elapsed < 2 * ChaosRun.SessionTtl)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            leftovers = await ChaosTopology.LeftoversAsync(agent);
        }

        Log($"sessions left when the workers stopped: {first.Sessions.Count}; after {waited.Elapsed.TotalSeconds:F0} s: {leftovers.Sessions.Count}");
        return leftovers;
    }

    private void Log(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
