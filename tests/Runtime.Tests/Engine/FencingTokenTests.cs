using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class FencingTokenTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task Tokens_strictly_increase_over_twenty_grants_also_across_deletion_and_recreation_of_the_key()
    {
        var first = NewProvider();
        var second = NewProvider();
        var tokens = new List<ulong>();
        for (var grant = 0; grant < 20; grant++)
        {
            var provider = grant % 3 == 0 ? second : first;
            await using (var handle = await provider.AcquireAsync("fenced"))
            {
                tokens.Add(handle.FencingToken);
            }

            if (grant is 6 or 13)
            {
                await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + Prefix + "fenced");
                Assert.Null(await ReadKeyAsync(Prefix + "fenced"));
            }
        }

        for (var i = 1; i < tokens.Count; i++)
        {
            Assert.True(tokens[i] > tokens[i - 1], $"grant {i}: {tokens[i]} is not above {tokens[i - 1]}");
        }
    }
}
