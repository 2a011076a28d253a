using System.Text;
using WebhookReceiver.Target;

namespace WebhookReceiver.Demo;

/// <summary>What the target's record says: did two calls for one id ever overlap, did a stale token ever get through.</summary>
public sealed record Verdict(int Overlaps, int StaleAccepted, int CancelledByLockLoss, int Accepted, int Total)
{
    public bool Passed => Overlaps == 0 && StaleAccepted == 0 && CancelledByLockLoss > 0 && Accepted > 0;

    public static Verdict From(IReadOnlyList<CallRecord> calls)
    {
        var overlaps = 0;
        var stale = 0;
        foreach (var group in calls.GroupBy(c => c.Id))
        {
            var ordered = group.OrderBy(c => c.Start).ToList();
            for (var i = 0; i < ordered.Count; i++)
            {
                for (var j = i + 1; j < ordered.Count; j++)
                {
                    // Every call counts, cancelled ones too: a cancelled call must have ended before the next began.
                    if (ordered[j].Start < ordered[i].End && ordered[i].Outcome != CallOutcome.RejectedStaleToken && ordered[j].Outcome != CallOutcome.RejectedStaleToken)
                    {
                        overlaps++;
                    }
                }
            }

            ulong highest = 0;
            foreach (var accepted in ordered.Where(c => c.Outcome == CallOutcome.Accepted))
            {
                if (accepted.Token < highest)
                {
                    stale++;
                }

                highest = Math.Max(highest, accepted.Token);
            }
        }

        return new Verdict(overlaps, stale, calls.Count(c => c.Outcome == CallOutcome.CancelledByCaller), calls.Count(c => c.Outcome == CallOutcome.Accepted), calls.Count);
    }

    public string Render()
    {
        var text = new StringBuilder();
        text.AppendLine("Verdict, from the target's own record of calls:");
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  calls: {Total}, completed: {Accepted}, cancelled when their lock was lost: {CancelledByLockLoss}");
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  overlapping calls for one id:       {Overlaps} (must be 0)");
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  stale fencing tokens accepted:      {StaleAccepted} (must be 0)");
        if (CancelledByLockLoss == 0)
        {
            text.AppendLine("  the lock loss did not cancel a call in flight (it must, for the demo to show it)");
        }

        text.AppendLine(Passed ? "PASS: one worker at a time per delivery id, and the lost lock cancelled its call at once." : "FAIL: see above.");
        return text.ToString();
    }
}
