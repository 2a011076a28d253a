namespace WebhookReceiver.Contracts;

/// <summary>How a receiver's hold of an event's lock ended.</summary>
public enum HoldOutcome
{
    /// <summary>The event was new: the receiver applied it and the store accepted the write.</summary>
    Applied,

    /// <summary>The store already had the event: a duplicate delivery, absorbed.</summary>
    Duplicate,

    /// <summary>The lock was lost mid-call; the body's token fired and the call was cancelled.</summary>
    Lost,

    /// <summary>The store refused the receiver's fencing token: a newer holder had been there.</summary>
    Refused,
}

/// <summary>
/// One hold of <c>webhook_receiver/{EventId}</c> by one receiver, as the receiver saw it: from the grant to the end
/// of the body. Times are seconds since the demo started (one machine, one wall clock for every process).
/// </summary>
public sealed record HoldRecord(string EventId, string Receiver, ulong Token, string Session, double Start, double End, HoldOutcome Outcome);

/// <summary>What a receiver reports when the demo asks at the end: its holds and the library's own lock metrics.</summary>
public sealed record ReceiverReport(string Receiver, List<HoldRecord> Holds, List<double> LockWaitSeconds, List<double> AcquireSeconds);

/// <summary>What the store answers a check: has the event been applied already.</summary>
public sealed record CheckAnswer(bool Applied);

/// <summary>Times in the demo: seconds since the demo started, from the wall clock every process on the machine shares.</summary>
public sealed class DemoClock(long startTicks)
{
    public static DemoClock StartNow() => new(DateTime.UtcNow.Ticks);

    /// <summary>The start, to hand to the receiver processes.</summary>
    public long StartTicks => startTicks;

    public double Now => TimeSpan.FromTicks(DateTime.UtcNow.Ticks - startTicks).TotalSeconds;
}
