using ConsulLock.Aop.TestSupport;
using ConsulLock.Aop.Tests.Engine;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Semaphores;

/// <summary>
/// What a permit costs as contenders grow (issue 22: "a release wakes the waiters that can use the free permit, not
/// every process"). Counted: Consul requests per grant, by kind, at 2, 8 and 32 providers, as the lock's scale tests
/// count them. A herd (every waiter reading the folder at every change, as the Go client does) would grow with the
/// providers; our waiters take turns, so the count per grant must not.
/// </summary>
[Collection(SemaphoreCollection.Name)]
public sealed class SemaphoreScaleTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    [Theory]
    [InlineData(2, 1, 40)]
    [InlineData(8, 1, 10)]
    [InlineData(32, 1, 3)]
    [InlineData(8, 4, 3)]
    public async Task Requests_per_grant_do_not_grow_with_the_contenders(int providerCount, int callersPerProvider, int grantsPerCaller)
    {
        const int limit = 2;
        var counters = Enumerable.Range(0, providerCount).Select(_ => new CountingHandler()).ToArray();
        var providers = counters.Select(c => new ConsulLockProvider(
            new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero }, loggerFactory: null, c)).ToArray();
        try
        {
            var inside = 0;
            var most = 0;
            var callers = providerCount * callersPerProvider;
            var total = callers * grantsPerCaller;
            await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
            {
                var provider = providers[caller % providerCount];
                for (var i = 0; i < grantsPerCaller; i++)
                {
                    await using var permit = await provider.AcquireSemaphoreAsync("turns", limit).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
                    var now = Interlocked.Increment(ref inside);
                    lock (counters)
                    {
                        most = Math.Max(most, now);
                    }

                    await Task.Delay(2);
                    Interlocked.Decrement(ref inside);
                }
            })));

            var kinds = counters.SelectMany(c => c.Log).Select(Kind).GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
            var protocol = kinds.Where(k => k.Key != "renew session").Sum(k => k.Value);
            var perGrant = (double)protocol / total;
            output.WriteLine(FormattableString.Invariant(
                $"{providerCount} providers x {callersPerProvider} callers, limit {limit}: {total} grants, {protocol} requests ({perGrant:0.00} per grant); by kind: {string.Join(", ", kinds.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => FormattableString.Invariant($"{k.Key} {(double)k.Value / total:0.00}")))}"));

            Assert.InRange(most, 1, limit);
            // A grant: a session of its own (create, destroy), a join (a transaction that also reads the folder), the
            // grant (a transaction), a release (a read of the folder and a transaction), and the wait: the first waiter's
            // blocking read of the folder answers at each change, every other waiter's watch of the contender before
            // it answers once. Each change under the prefix wakes the first waiter and the holders' watches of .lock,
            // never every waiter: the count stays near 10 at any number of contenders.
            Assert.InRange(perGrant, 5, 14);
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }

        await UntilAsync(async () => await KeysUnderAsync("turns/") == 0, "a contender key or .lock was left");
    }

    private static string Kind(string request)
    {
        var (method, rest) = (request[..request.IndexOf(' ', StringComparison.Ordinal)], request[(request.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
        var path = rest.Split('?')[0];
        var query = rest.Contains('?', StringComparison.Ordinal) ? rest[(rest.IndexOf('?', StringComparison.Ordinal) + 1)..] : "";
        return path switch
        {
            _ when path.StartsWith("/v1/session/create", StringComparison.Ordinal) => "create session",
            _ when path.StartsWith("/v1/session/destroy", StringComparison.Ordinal) => "destroy session",
            _ when path.StartsWith("/v1/session/renew", StringComparison.Ordinal) => "renew session",
            _ when path.StartsWith("/v1/session/", StringComparison.Ordinal) => "read session",
            "/v1/txn" => "transaction",
            _ when method == "GET" && query.Contains("recurse", StringComparison.Ordinal) && query.Contains("index=", StringComparison.Ordinal) => "wait on folder",
            _ when method == "GET" && query.Contains("recurse", StringComparison.Ordinal) => "read folder",
            _ when method == "GET" && path.EndsWith("/.lock", StringComparison.Ordinal) => "watch .lock (held)",
            _ when method == "GET" && query.Contains("index=", StringComparison.Ordinal) => "watch a contender key",
            _ => method + " " + path,
        };
    }
}
