using System.Net;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>
/// Each scenario (and each caller count of (c)) gets a fresh <c>consul agent -dev</c>: the dev agent slows down as
/// its in-memory state grows (about 2x slower after ~50,000 lock cycles on the reference machine), so a shared agent
/// would make later scenarios look worse than earlier ones for reasons that are Consul's, not ours.
/// </summary>
internal static class Agents
{
    private static readonly TimeSpan s_registrationTimeout = TimeSpan.FromSeconds(30);

    public static async Task<T> OnFreshAgentAsync<T>(Func<Uri, Task<T>> scenario, CancellationToken cancellationToken)
    {
        // Disposal kills the agent; ConsulAgent also kills it on process exit if this is never reached.
        await using var agent = await ConsulAgent.StartDevAsync(cancellationToken);
        await WaitForNodeRegistrationAsync(agent.Address, cancellationToken);
        return await scenario(agent.Address);
    }

    /// <summary>
    /// A dev agent has a leader before it has registered its own node in the catalog, and until then Consul refuses
    /// to create sessions ("Missing node registration"). Poll: the agent offers no event for it.
    /// </summary>
    private static async Task WaitForNodeRegistrationAsync(Uri address, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(s_registrationTimeout);
        while (true)
        {
            var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, address, "/v1/catalog/nodes", cancellationToken: timeout.Token);
            if (status == HttpStatusCode.OK && body.Contains("\"Node\"", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
