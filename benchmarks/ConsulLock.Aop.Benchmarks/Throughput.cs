using System.Diagnostics;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>Cycles per second at one caller count, for our provider and for the raw floor.</summary>
internal sealed record ThroughputPoint(
    int Callers, IReadOnlyList<WindowRun> Ours, IReadOnlyList<WindowRun> Floor, IReadOnlyList<WindowRun> RawTxn, RequestsPerCycle OursRequests)
{
    public double OursPerSecond => Stats.Median(Ours.Select(r => r.PerSecond));

    public double FloorPerSecond => Stats.Median(Floor.Select(r => r.PerSecond));

    public double RawTxnPerSecond => Stats.Median(RawTxn.Select(r => r.PerSecond));

    /// <summary>The median of the per-run ratios, each of our windows paired with the floor window of the same run.</summary>
    public double Ratio => Stats.Median(Ours.Zip(Floor, (ours, floor) => ours.PerSecond / floor.PerSecond));
}

/// <summary>
/// (c) N callers, each on its own key, through one provider (so one shared session and one folder watch), looping
/// acquire + release for a fixed window; and the floor with N callers, each with its own session, on raw KV, and
/// the engine's own transactions sent raw the same way as a reference. Shows where the single Consul agent
/// saturates and what the engine adds on top.
/// </summary>
internal static class Throughput
{
    public static async Task<IReadOnlyList<ThroughputPoint>> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var points = new List<ThroughputPoint>();
        foreach (var callers in settings.CallerCounts)
        {
            points.Add(await Agents.OnFreshAgentAsync(address => RunAsync(address, callers, settings, cancellationToken), cancellationToken));
        }

        return points;
    }

    private static async Task<ThroughputPoint> RunAsync(Uri address, int callers, Settings settings, CancellationToken cancellationToken)
    {
        using var raw = new RawKv(address);
        var sessions = new string[callers];
        for (var i = 0; i < callers; i++)
        {
            sessions[i] = await raw.CreateSessionAsync(cancellationToken);
        }

        await using var provider = Providers.Create(address, $"bench/c{callers}/");
        async Task<long> Floor(int caller)
        {
            await raw.CycleAsync($"bench/floor-c{callers}/key{caller}", sessions[caller]);
            return Stopwatch.GetTimestamp();
        }

        async Task<long> RawTxn(int caller)
        {
            await raw.TxnCycleAsync($"bench/txn-c{callers}/key{caller}", sessions[caller]);
            return Stopwatch.GetTimestamp();
        }

        async Task<long> Ours(int caller)
        {
            await Providers.CycleAsync(provider, $"key{caller}");
            return Stopwatch.GetTimestamp();
        }

        (Func<int, Task<long>> Cycle, List<WindowRun> Runs)[] loops = [(Floor, []), (RawTxn, []), (Ours, [])];
        foreach (var (cycle, _) in loops)
        {
            await Measure.WindowAsync(callers, settings.WarmupWindow, cycle, cancellationToken);
        }

        for (var run = 0; run < settings.Runs; run++)
        {
            // Rotate the order each run so that drift does not always favour one loop.
            for (var i = 0; i < loops.Length; i++)
            {
                var (cycle, runs) = loops[(run + i) % loops.Length];
                runs.Add(await Measure.WindowAsync(callers, settings.ThroughputWindow, cycle, cancellationToken));
            }

            Progress.Write($"(c) {callers} callers, run {run + 1}/{settings.Runs}: floor {loops[0].Runs[^1].PerSecond:0}/s, raw txn {loops[1].Runs[^1].PerSecond:0}/s, ours {loops[2].Runs[^1].PerSecond:0}/s");
        }

        await raw.DestroySessionsAsync();
        var requests = await RequestCount.MeasureAsync(address, $"bench/c{callers}-count/", callers, Math.Max(5, settings.WarmupCycles / callers), cancellationToken);
        return new ThroughputPoint(callers, loops[2].Runs, loops[0].Runs, loops[1].Runs, requests);
    }
}
