namespace ConsulLock.Aop.Benchmarks;

internal sealed record UncontendedResult(IReadOnlyList<CycleRun> Floor, IReadOnlyList<CycleRun> RawTxn, IReadOnlyList<CycleRun> Ours, RequestsPerCycle OursRequests)
{
    public double FloorMedianMs => Stats.Median(Floor.Select(r => r.MedianMs));

    public double OursMedianMs => Stats.Median(Ours.Select(r => r.MedianMs));

    /// <summary>Ours / floor within each run, both measured over the same interleaved stretch of time.</summary>
    public IReadOnlyList<double> RunRatios => [.. Ours.Zip(Floor, (ours, floor) => ours.MedianMs / floor.MedianMs)];

    /// <summary>The median of the paired per-run ratios: robust to the host getting faster or slower between runs.</summary>
    public double LatencyRatio => Stats.Median(RunRatios);
}

/// <summary>
/// (a) One caller, one key, nobody else: <c>AcquireAsync</c> + <c>DisposeAsync</c> in a loop, against the raw KV
/// loop on one reused session, with the engine's own two transactions sent raw as a reference; the three loops
/// alternate every <see cref="Block"/> cycles.
/// </summary>
internal static class Uncontended
{
    /// <summary>Cycles of one loop before switching to the next (about 50 ms).</summary>
    public const int Block = 50;

    public static async Task<UncontendedResult> RunAsync(Uri address, Settings settings, CancellationToken cancellationToken)
    {
        using var raw = new RawKv(address);
        var session = await raw.CreateSessionAsync(cancellationToken);
        await using var provider = Providers.Create(address, "bench/a/");
        Task Floor() => raw.CycleAsync("bench/floor-a/key", session);
        Task RawTxn() => raw.TxnCycleAsync("bench/txn-a/key", session);
        Task Ours() => Providers.CycleAsync(provider, "key");
        Func<Task>[] loops = [Floor, RawTxn, Ours];
        await Measure.InterleavedAsync(loops, settings.WarmupCycles, Block, cancellationToken);
        var runs = new List<CycleRun[]>();
        for (var run = 0; run < settings.Runs; run++)
        {
            var result = await Measure.InterleavedAsync(loops, settings.Cycles, Block, cancellationToken);
            runs.Add(result);
            Progress.Write($"(a) run {run + 1}/{settings.Runs}: floor {result[0].MedianMs:0.000} ms, raw txn {result[1].MedianMs:0.000} ms, ours {result[2].MedianMs:0.000} ms");
        }

        await raw.DestroySessionsAsync();
        var requests = await RequestCount.MeasureAsync(address, "bench/a-count/", callers: 1, settings.WarmupCycles, cancellationToken);
        return new UncontendedResult([.. runs.Select(r => r[0])], [.. runs.Select(r => r[1])], [.. runs.Select(r => r[2])], requests);
    }
}
