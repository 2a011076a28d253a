using System.Globalization;
using System.Text;
using WebhookReceiver.Target;

namespace WebhookReceiver.Demo;

/// <summary>Who held each id when, with which fencing token, and how each call ended.</summary>
public static class Timeline
{
    public static string Render(IReadOnlyList<CallRecord> calls)
    {
        var text = new StringBuilder();
        foreach (var group in calls.GroupBy(c => c.Id).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{group.Key}:");
            foreach (var call in group.OrderBy(c => c.Start))
            {
                var outcome = call.Outcome switch
                {
                    CallOutcome.Accepted => "done",
                    CallOutcome.CancelledByCaller => "CANCELLED: the worker lost its lock mid-call",
                    CallOutcome.RejectedStaleToken => "refused: stale fencing token",
                    _ => "still running",
                };
                text.AppendLine(CultureInfo.InvariantCulture, $"  {call.Start,6:0.00}s - {call.End,6:0.00}s  {call.Worker,-9} delivery {call.Delivery}  token {call.Token,-5} {outcome}");
            }
        }

        return text.ToString();
    }
}
