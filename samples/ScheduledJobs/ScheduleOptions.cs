namespace ScheduledJobs;

/// <summary>
/// The section <c>ScheduledJobs</c>: what one instance runs and how. Every instance of a run is given the same
/// <see cref="Cron"/>, <see cref="From"/> and <see cref="Firings"/>, so they fire the same firings; only the clock
/// skew differs.
/// </summary>
public sealed class ScheduleOptions
{
    /// <summary>This instance's name, in its console lines and its records.</summary>
    public string Instance { get; set; } = $"instance-{Environment.ProcessId}";

    /// <summary>
    /// When both jobs fire: cron with a seconds field, in Quartz's form (one of day-of-month and day-of-week is
    /// <c>?</c>), which Cronos reads too. Every 10 s by default.
    /// </summary>
    public string Cron { get; set; } = "*/10 * * * * ?";

    /// <summary>The first firing is the first occurrence at or after this time; by default, now on this instance's clock.</summary>
    public DateTimeOffset? From { get; set; }

    /// <summary>How many firings of each job this instance takes part in before it exits.</summary>
    public int Firings { get; set; } = 3;

    /// <summary>
    /// How many seconds this instance's clock is behind (0 to a few): its timers fire that much later than on an
    /// instance with no skew, as with clocks that are not quite in step or timers that fire late under load.
    /// </summary>
    public double ClockSkew { get; set; }

    /// <summary>How many seconds one run of a job works.</summary>
    public double JobLength { get; set; } = 1;

    /// <summary>
    /// <see langword="false"/> runs the jobs' variants without <c>MinHold</c>: a firing's key is free again as soon
    /// as the run ends, and an instance whose timer fires later than that runs the firing again.
    /// </summary>
    public bool MinHold { get; set; } = true;

    /// <summary>The folder every instance writes its records to (a file each), and the verdict reads.</summary>
    public string Records { get; set; } = "scheduled-jobs-records";
}
