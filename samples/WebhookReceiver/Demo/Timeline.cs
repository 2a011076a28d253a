using System.Globalization;
using System.Text;
using WebhookReceiver.Contracts;
using WebhookReceiver.Store;

namespace WebhookReceiver.Demo;

/// <summary>
/// The text timeline of chosen events: each hold of the event's lock (receiver, fencing token, session, how it
/// ended) and, under it, what the store did with that holder's requests. Built from the same records as the
/// receivers' log lines and the verdict, so names and tokens agree everywhere.
/// </summary>
public static class Timeline
{
    public static string Render(IReadOnlyList<(string EventId, string Why)> chosen, IReadOnlyList<HoldRecord> holds, IReadOnlyList<StoreOp> ops)
    {
        var text = new StringBuilder();
        text.AppendLine("Timeline (seconds since the start; the full picture is in the HTML page):");
        foreach (var (eventId, why) in chosen)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{eventId}: {why}");
            foreach (var hold in holds.Where(h => h.EventId == eventId).OrderBy(h => h.Start))
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"  {hold.Start,7:0.000}s - {hold.End,7:0.000}s  {hold.Receiver}  token {hold.Token,-5} session {LostLockMoments.Abbreviate(hold.Session)}  held: {Describe(hold.Outcome)}");
                foreach (var op in ops.Where(o => o.EventId == eventId && o.Token == hold.Token && o.Receiver == hold.Receiver).OrderBy(o => o.Arrived))
                {
                    text.AppendLine(CultureInfo.InvariantCulture,
                        $"      store: {op.Kind.ToString().ToLowerInvariant(),-5} arrived {op.Arrived,7:0.000}s, decided {op.Decided,7:0.000}s: {Describe(op)}");
                }
            }
        }

        return text.ToString();
    }

    public static string Describe(HoldOutcome outcome) => outcome switch
    {
        HoldOutcome.Applied => "applied the event",
        HoldOutcome.Duplicate => "found it applied, did nothing (duplicate absorbed)",
        HoldOutcome.Lost => "LOST the lock mid-call, call cancelled",
        _ => "the store refused its token",
    };

    public static string Describe(StoreOp op) => op.Result switch
    {
        StoreOpResult.NotApplied => "not applied yet",
        StoreOpResult.AlreadyApplied => "already applied",
        StoreOpResult.Applied => "APPLIED",
        StoreOpResult.RefusedStale => $"REFUSED: stale token ({op.HighestSeen} seen)",
        StoreOpResult.Abandoned => "abandoned: the caller hung up",
        _ => "still pending",
    };
}
