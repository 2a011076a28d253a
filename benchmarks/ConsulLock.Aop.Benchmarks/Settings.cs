namespace ConsulLock.Aop.Benchmarks;

/// <summary>How much to measure. Full mode gives stable medians; <c>--quick</c> only checks that everything runs.</summary>
internal sealed record Settings(
    string Mode,
    int Runs,
    int Cycles,
    int WarmupCycles,
    TimeSpan ContendedWindow,
    TimeSpan ThroughputWindow,
    TimeSpan WarmupWindow,
    IReadOnlyList<int> CallerCounts)
{
    public static Settings Full { get; } = new(
        "full", Runs: 5, Cycles: 2000, WarmupCycles: 300,
        ContendedWindow: TimeSpan.FromSeconds(3), ThroughputWindow: TimeSpan.FromSeconds(1), WarmupWindow: TimeSpan.FromSeconds(0.5),
        CallerCounts: [1, 4, 16, 64]);

    public static Settings Quick { get; } = new(
        "quick", Runs: 3, Cycles: 200, WarmupCycles: 50,
        ContendedWindow: TimeSpan.FromSeconds(1), ThroughputWindow: TimeSpan.FromSeconds(0.3), WarmupWindow: TimeSpan.FromSeconds(0.1),
        CallerCounts: [1, 4, 16, 64]);
}
