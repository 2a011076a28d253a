using System.Diagnostics;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>One caller doing a fixed number of cycles: the latency of each, and the whole run's time.</summary>
internal sealed class CycleRun(double[] latenciesMs, TimeSpan elapsed)
{
    public double MedianMs { get; } = Stats.Percentile(latenciesMs, 0.50);

    public double P95Ms { get; } = Stats.Percentile(latenciesMs, 0.95);

    public double CyclesPerSecond { get; } = latenciesMs.Length / elapsed.TotalSeconds;
}

/// <summary>Several callers looping for a fixed window: the events each counted inside it.</summary>
internal sealed class WindowRun(long[] perCaller, TimeSpan window)
{
    public IReadOnlyList<long> PerCaller { get; } = perCaller;

    public long Total { get; } = perCaller.Sum();

    public double PerSecond => Total / window.TotalSeconds;
}

internal static class Measure
{
    /// <summary>Runs <paramref name="cycle"/> <paramref name="count"/> times in a row, timing each.</summary>
    public static async Task<CycleRun> CyclesAsync(Func<Task> cycle, int count, CancellationToken cancellationToken)
    {
        var latencies = new double[count];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var before = Stopwatch.GetTimestamp();
            await cycle();
            latencies[i] = Stopwatch.GetElapsedTime(before).TotalMilliseconds;
        }

        return new CycleRun(latencies, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// Runs one-caller loops <paramref name="count"/> cycles each, alternating between them every
    /// <paramref name="block"/> cycles (the order rotating each round), so that machine noise, which drifts over
    /// seconds on a shared host, hits every loop alike. Returns one run per loop, in the order given.
    /// </summary>
    public static async Task<CycleRun[]> InterleavedAsync(IReadOnlyList<Func<Task>> loops, int count, int block, CancellationToken cancellationToken)
    {
        var latencies = loops.Select(_ => new double[count]).ToArray();
        var elapsed = new TimeSpan[loops.Count];
        for (int done = 0, round = 0; done < count; done += block, round++)
        {
            for (var i = 0; i < loops.Count; i++)
            {
                var loop = (round + i) % loops.Count;
                var start = Stopwatch.GetTimestamp();
                for (var cycle = done; cycle < Math.Min(done + block, count); cycle++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var before = Stopwatch.GetTimestamp();
                    await loops[loop]();
                    latencies[loop][cycle] = Stopwatch.GetElapsedTime(before).TotalMilliseconds;
                }

                elapsed[loop] += Stopwatch.GetElapsedTime(start);
            }
        }

        return [.. latencies.Select((l, i) => new CycleRun(l, elapsed[i]))];
    }

    /// <summary>
    /// Runs <paramref name="callers"/> loops of <paramref name="cycle"/> (given the caller's index) concurrently until
    /// <paramref name="window"/> has passed. A cycle returns the timestamp of the event it counts (a grant, a finished
    /// cycle); only events inside the window count. A cycle under way when the window closes runs to its end and is
    /// never cancelled, so no lock is left held and no cancellation path is measured.
    /// </summary>
    public static async Task<WindowRun> WindowAsync(
        int callers, TimeSpan window, Func<int, Task<long>> cycle, CancellationToken cancellationToken)
    {
        var counts = new long[callers];
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(window.TotalSeconds * Stopwatch.Frequency);
        var loops = Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < end && !cancellationToken.IsCancellationRequested)
            {
                if (await cycle(caller) <= end)
                {
                    counts[caller]++;
                }
            }
        }, cancellationToken));
        await Task.WhenAll(loops);
        cancellationToken.ThrowIfCancellationRequested();
        return new WindowRun(counts, window);
    }
}

internal static class Stats
{
    /// <summary>The value at <paramref name="fraction"/> of the sorted values (nearest rank).</summary>
    public static double Percentile(IEnumerable<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(fraction * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public static double Median(IEnumerable<double> values) => Percentile(values, 0.5);
}
