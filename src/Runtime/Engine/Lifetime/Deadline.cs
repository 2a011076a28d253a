using System.Diagnostics;

namespace ConsulLock.Aop.Engine;

/// <summary>A point on the monotonic clock by which a wait must end, or none.</summary>
internal readonly struct Deadline(long started, TimeSpan? timeout)
{
    public bool IsEndless => timeout is null;

    public TimeSpan Timeout => timeout ?? System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>Time left; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> when endless, which waits accept as "forever".</summary>
    public TimeSpan Remaining => timeout is { } limit
        ? (limit - Stopwatch.GetElapsedTime(started) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero)
        : System.Threading.Timeout.InfiniteTimeSpan;

    public bool HasPassed => !IsEndless && Remaining <= TimeSpan.Zero;

    /// <summary><paramref name="wanted"/>, cut to what is left of the wait.</summary>
    public TimeSpan AtMost(TimeSpan wanted) => IsEndless || Remaining > wanted ? wanted : Remaining;
}

/// <summary>Waiting for a point on the monotonic clock, never ending early.</summary>
internal static class Clock
{
    /// <summary>
    /// Returns once <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp) has passed. Timers may fire a
    /// millisecond early; a hold must not end early, so this waits again for what is left.
    /// </summary>
    public static async Task UntilAsync(long timestamp, CancellationToken cancellationToken)
    {
        for (var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp); left > TimeSpan.Zero;
             left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp))
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(1), cancellationToken).ConfigureAwait(false);
        }
    }
}
