using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>Consul HTTP requests per acquire + release cycle, and how many of them were reads (GET, mostly watch answers).</summary>
internal readonly record struct RequestsPerCycle(double Requests, double Reads)
{
    public override string ToString() => FormattableString.Invariant($"{Requests:0.00} ({Reads:0.00} reads)");
}

/// <summary>
/// Explains a gap to the floor: after the timed runs, a separate untimed pass runs the same loop through a provider
/// whose HTTP client counts requests. The floor makes exactly 2 per cycle (PUT ?acquire, PUT ?release).
/// </summary>
internal static class RequestCount
{
    public static async Task<RequestsPerCycle> MeasureAsync(Uri address, string keyPrefix, int callers, int cyclesPerCaller, CancellationToken cancellationToken)
    {
        using var counter = new CountingHandler();
        await using var provider = new ConsulLockProvider(
            new ConsulLockOptions { Address = address, KeyPrefix = keyPrefix, LockDelay = TimeSpan.Zero }, loggerFactory: null, counter);

        // One warm cycle per caller first, so the session create and first reads are not counted.
        await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Providers.CycleAsync(provider, $"key{caller}")));
        var (requests, reads) = (counter.Requests, counter.Reads);
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async caller =>
        {
            for (var i = 0; i < cyclesPerCaller && !cancellationToken.IsCancellationRequested; i++)
            {
                await Providers.CycleAsync(provider, $"key{caller}");
            }
        }));
        cancellationToken.ThrowIfCancellationRequested();
        var (requestsAfter, readsAfter) = (counter.Requests, counter.Reads);
        double cycles = callers * cyclesPerCaller;
        return new RequestsPerCycle((requestsAfter - requests) / cycles, (readsAfter - reads) / cycles);
    }
}
