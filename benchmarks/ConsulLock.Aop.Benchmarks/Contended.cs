using System.Diagnostics;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>
/// One window of the contended scenario: the grants inside it (per caller), and over all grants including the few
/// that finish after it, how many moved the key to the other provider and how many found another holder inside.
/// </summary>
internal sealed record ContentionWindow(WindowRun Grants, long AllGrants, long ProviderChanges, long Overlaps);

/// <summary>A contended window and the floor run measured next to it.</summary>
internal sealed record ContendedRun(ContentionWindow Window, CycleRun Floor);

internal sealed record ContendedResult(IReadOnlyList<ContendedRun> Runs)
{
    public double GrantsPerSecond => Stats.Median(Runs.Select(r => r.Window.Grants.PerSecond));

    public double FloorCyclesPerSecond => Stats.Median(Runs.Select(r => r.Floor.CyclesPerSecond));

    /// <summary>The median of the per-run ratios, each window paired with the floor run next to it.</summary>
    public double Ratio => Stats.Median(Runs.Select(r => r.Window.Grants.PerSecond / r.Floor.CyclesPerSecond));
}

/// <summary>
/// (b) One key wanted by four callers spread over two providers (two each), each looping acquire + release for a
/// fixed window: how many grants per second the key sees. A grant inside a provider is a local hand-over at its key
/// gate; a grant across providers goes through Consul (release, watch answer, read, lock).
/// </summary>
internal static class Contended
{
    public const int ProviderCount = 2;
    public const int CallersPerProvider = 2;
    private const string Key = "hot";

    public static async Task<ContendedResult> RunAsync(Uri address, Settings settings, CancellationToken cancellationToken)
    {
        using var raw = new RawKv(address);
        var session = await raw.CreateSessionAsync(cancellationToken);
        Task Floor() => raw.CycleAsync("bench/floor-b/key", session);
        var providers = Enumerable.Range(0, ProviderCount).Select(_ => Providers.Create(address, "bench/b/")).ToArray();
        try
        {
            await Measure.CyclesAsync(Floor, settings.WarmupCycles, cancellationToken);
            await WindowAsync(providers, settings.WarmupWindow, cancellationToken);
            var runs = new List<ContendedRun>();
            for (var run = 0; run < settings.Runs; run++)
            {
                ContendedRun result;
                if (run % 2 == 0)
                {
                    var floor = await Measure.CyclesAsync(Floor, settings.Cycles, cancellationToken);
                    result = new(await WindowAsync(providers, settings.ContendedWindow, cancellationToken), floor);
                }
                else
                {
                    var window = await WindowAsync(providers, settings.ContendedWindow, cancellationToken);
                    result = new(window, await Measure.CyclesAsync(Floor, settings.Cycles, cancellationToken));
                }

                runs.Add(result);
                Progress.Write($"(b) run {run + 1}/{settings.Runs}: {result.Window.Grants.PerSecond:0} grants/s, floor {result.Floor.CyclesPerSecond:0} cycles/s");
            }

            await raw.DestroySessionsAsync();
            return new ContendedResult(runs);
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    private static async Task<ContentionWindow> WindowAsync(ConsulLockProvider[] providers, TimeSpan window, CancellationToken cancellationToken)
    {
        var holders = 0;
        var lastProvider = -1;
        long allGrants = 0, providerChanges = 0, overlaps = 0;
        var grants = await Measure.WindowAsync(ProviderCount * CallersPerProvider, window, async caller =>
        {
            var index = caller % ProviderCount;
            var handle = await providers[index].AcquireAsync(Key);
            var grantedAt = Stopwatch.GetTimestamp();
            if (Interlocked.Increment(ref holders) != 1)
            {
                Interlocked.Increment(ref overlaps);
            }

            Interlocked.Increment(ref allGrants);
            if (Interlocked.Exchange(ref lastProvider, index) is var previous && previous >= 0 && previous != index)
            {
                Interlocked.Increment(ref providerChanges);
            }

            Interlocked.Decrement(ref holders);
            await handle.DisposeAsync();
            return grantedAt;
        }, cancellationToken);
        return new ContentionWindow(grants, allGrants, providerChanges, overlaps);
    }
}
