using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class MutualExclusionTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task Three_providers_with_four_callers_each_never_overlap_and_lose_no_update()
    {
        const int Rounds = 200;
        var providers = Enumerable.Range(0, 3).Select(_ => NewProvider()).ToArray();
        var counter = 0;
        var inside = 0;
        var overlaps = 0;
        var fencingTokens = new System.Collections.Concurrent.ConcurrentQueue<ulong>();

        async Task CallerAsync(IConsulLockProvider provider)
        {
            for (var round = 0; round < Rounds; round++)
            {
                await using var handle = await provider.AcquireAsync("counter");
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                fencingTokens.Enqueue(handle.FencingToken);
                var seen = counter;           // a deliberately non-atomic read-modify-write
                await Task.Yield();
                counter = seen + 1;
                Interlocked.Decrement(ref inside);
            }
        }

        await Task.WhenAll(providers.SelectMany(p => Enumerable.Range(0, 4).Select(_ => Task.Run(() => CallerAsync(p)))));

        Assert.Equal(0, overlaps);
        Assert.Equal(3 * 4 * Rounds, counter);
        // Every grant got its own fencing token.
        Assert.Equal(3 * 4 * Rounds, fencingTokens.Distinct().Count());
        Assert.True(providers.All(p => p.SessionIds.Count <= 1), "each provider shares one session among its callers");
    }
}
