namespace ScheduledJobs;

/// <summary>
/// This instance's clock: the system's, <paramref name="behind"/> late. Both schedulers read it, so a firing happens
/// that much later here than on an instance with no skew, under the same name (its scheduled time).
/// </summary>
public sealed class SkewedClock(TimeSpan behind) : TimeProvider
{
    public TimeSpan Behind => behind;

    // Timers stay the system's: a delay computed against this clock still lasts as long.
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() - behind;
}
