using Xunit;

namespace ConsulLock.Aop.TestSupport;

/// <summary>One dev agent shared by the tests of a collection; see each test project's <c>ConsulCollection</c>.</summary>
public sealed class ConsulAgentFixture : IAsyncLifetime
{
    private ConsulAgent? _agent;

    public ConsulAgent Agent => _agent ?? throw new InvalidOperationException("The fixture has not started yet.");

    public async Task InitializeAsync() => _agent = await ConsulAgent.StartDevAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync().ConfigureAwait(false);
        }
    }
}
