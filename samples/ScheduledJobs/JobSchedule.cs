using Cronos;

namespace ScheduledJobs;

/// <summary>The firings this instance takes part in, the same for both jobs: occurrences of one cron expression in UTC.</summary>
public sealed class JobSchedule
{
    private JobSchedule(string cron, IReadOnlyList<DateTimeOffset> firings, SkewedClock clock)
    {
        Cron = cron;
        Firings = firings;
        Clock = clock;
    }

    public string Cron { get; }

    /// <summary>The scheduled times, in order: what the lock keys name.</summary>
    public IReadOnlyList<DateTimeOffset> Firings { get; }

    public SkewedClock Clock { get; }

    public DateTimeOffset First => Firings[0];

    public DateTimeOffset Last => Firings[^1];

    /// <summary>The first <paramref name="count"/> occurrences of <paramref name="cron"/> at or after <paramref name="from"/>.</summary>
    public static JobSchedule Plan(string cron, DateTimeOffset from, int count, SkewedClock clock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var expression = CronExpression.Parse(cron, CronFormat.IncludeSeconds);
        var firings = new List<DateTimeOffset>(count);
        DateTimeOffset? next = expression.GetNextOccurrence(from, TimeZoneInfo.Utc, inclusive: true);
        while (next is { } firing && firings.Count < count)
        {
            firings.Add(firing);
            next = expression.GetNextOccurrence(firing, TimeZoneInfo.Utc);
        }

        return firings.Count > 0 ? new JobSchedule(cron, firings, clock) : throw new ArgumentException($"'{cron}' has no occurrence after {from:O}.", nameof(cron));
    }
}
