using System.Diagnostics;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// A dev agent (state in memory) restarted under load: every session and key vanishes and Consul's indexes start
/// again from 1. Holders must see the loss; waiters must not hang on an index that will not come back.
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
            await using var run = await ChaosRun.StartAsync([agent.HttpAddress], workersPerAgent: 4, flows: 1, ["a", "b"], seed: 100, Log);

            await run.ScenarioAsync("calm (dev agent)", () => Task.FromResult<IReadOnlyList<Fault>>([]), TimeSpan.FromSeconds(5));
            await run.ScenarioAsync("dev agent restarted, state lost", async () => [await Nemesis.RestartDevAgentAsync(agent)], TimeSpan.FromSeconds(15));
            await run.ScenarioAsync("calm after restart", () => Task.FromResult<IReadOnlyList<Fault>>([]), TimeSpan.FromSeconds(10));
            await ChaosReport.FinishAsync(run, () => ChaosTopology.LeftoversAsync(agent.HttpAddress), "dev-agent", output, clock.Elapsed);
        }
        finally
        {
            ConsulAgent.TryDeleteDirectory(work);
        }
    }

    private void Log(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
