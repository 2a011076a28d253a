using System.Globalization;

namespace ConsulLock.Aop.Chaos;

/// <summary>What the checker found of the semaphore workload in one scenario: the first two counts must be 0.</summary>
public sealed record PermitReport(string Scenario, int Grants, int Overflows, int FalseLosses, int Excused, int MostAtOnce, IReadOnlyList<string> Findings)
{
    public bool Clean => Overflows == 0 && FalseLosses == 0;
}

/// <summary>
/// The semaphore workload's rules (issue 22), on the workers' <c>pstart</c>, <c>pend</c> and <c>plost</c> lines:
/// <list type="bullet">
/// <item>Overflow: a permit section starts while <see cref="Limit"/> others of the same semaphore have started and
/// neither ended nor seen their lost-token. Excused only when such a holder's worker was suspended in between (it cannot
/// know; Consul's semaphore layout has no lock-delay, so its permit goes to the next contender once its session is
/// invalidated), or Consul lost its state.</item>
/// <item>False loss: a permit's lost-token with no fault in the schedule that may cause a loss for its worker, as for
/// locks.</item>
/// </list>
/// </summary>
public static class PermitChecker
{
    /// <summary>The limit of the workers' semaphore (tests/ChaosWorker/Permits.cs).</summary>
    public const int Limit = 2;

    public static IReadOnlyList<Section> Sections(IReadOnlyList<RegisterEvent> history)
    {
        var sections = new List<Section>();
        var open = new Dictionary<string, (RegisterEvent Start, long? Lost)>();
        foreach (var e in history.OrderBy(e => e.At))
        {
            switch (e.Kind)
            {
                case "pstart":
                    if (open.Remove(e.Flow, out var unfinished))
                    {
                        sections.Add(Close(unfinished.Start, unfinished.Lost, null));
                    }

                    open[e.Flow] = (e, null);
                    break;
                case "plost" when open.TryGetValue(e.Flow, out var current) && current.Start.Key == e.Key && current.Start.Token == e.Token:
                    open[e.Flow] = (current.Start, current.Lost ?? e.At);
                    break;
                case "pend" when open.Remove(e.Flow, out var started):
                    sections.Add(Close(started.Start, started.Lost, e));
                    break;
            }
        }

        sections.AddRange(open.Values.Select(o => Close(o.Start, o.Lost, null)));
        return sections;

        static Section Close(RegisterEvent start, long? lost, RegisterEvent? end) =>
            new(start.Flow, start.Key, start.Token, start.At, end?.At, lost, end?.Detail ?? "open", true, true);
    }

    public static PermitReport Check(ScenarioRun scenario, IReadOnlyList<RegisterEvent> history, IReadOnlyList<Fault> allFaults)
    {
        bool InScenario(long at) => at >= scenario.Start && at < scenario.End;
        var findings = new List<string>();
        var sections = Sections(history);
        int overflows = 0, excused = 0, most = 0, grants = 0, falseLosses = 0;
        foreach (var bySemaphore in sections.GroupBy(s => s.Key))
        {
            var ordered = bySemaphore.OrderBy(s => s.Start).ToList();
            foreach (var b in ordered.Where(s => InScenario(s.Start)))
            {
                grants++;
                var inside = ordered.Where(a => a != b && a.Start <= b.Start && a.BelievedUntil > b.Start).ToList();
                most = Math.Max(most, inside.Count + 1);
                if (inside.Count < Limit)
                {
                    continue;
                }

                // Over the limit unless enough of those holders are excused to bring it back within it.
                var unexcused = inside.Where(a => !allFaults.Any(f => Excuses(f, a, b))).ToList();
                if (unexcused.Count < Limit)
                {
                    excused++;
                    continue;
                }

                overflows++;
                findings.Add(FormattableString.Invariant(
                    $"permit overflow on {b.Key}: {b.Flow} (token {b.Token}) started while {string.Join(", ", unexcused.Select(a => $"{a.Flow} (token {a.Token}, {Checker.Ms(b.Start - a.Start):F0} ms into it)"))} held permits of limit {Limit}"));
            }
        }

        foreach (var loss in history.Where(e => e.Kind == "plost" && InScenario(e.At)))
        {
            var cause = allFaults.Any(f => f.MayCauseLoss && f.Hits(loss.Worker) && loss.At >= f.Start && loss.At <= f.Heal + Checker.Ticks(Checker.LossGrace))
                || Checker.CombinedFaultsCover(allFaults, loss);
            if (!cause)
            {
                falseLosses++;
                findings.Add($"false loss: {loss.Flow}'s permit of {loss.Key} (token {loss.Token}) was lost with no cause in the schedule");
            }
        }

        return new PermitReport(scenario.Name, grants, overflows, falseLosses, excused, most, findings);
    }

    public static string Format(IReadOnlyList<PermitReport> reports)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"semaphore workload (limit {Limit}):");
        text.AppendLine(CultureInfo.InvariantCulture, $"{"scenario",-34} {"grants",6} {"over",5} {"falseL",6} | {"excused",7} {"most",4}");
        foreach (var r in reports)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{r.Scenario,-34} {r.Grants,6} {r.Overflows,5} {r.FalseLosses,6} | {r.Excused,7} {r.MostAtOnce,4}");
            foreach (var finding in r.Findings.Take(5))
            {
                text.AppendLine("    " + finding);
            }
        }

        return text.ToString();
    }

    private static bool Excuses(Fault fault, Section a, Section b) => fault.Excuse switch
    {
        FaultExcuse.HolderSuspended => fault.Hits(a.Worker) && fault.Start < b.Start && fault.Heal > a.Start,
        FaultExcuse.StateLost => fault.Heal >= a.Start && fault.Start <= b.Start,
        _ => false,
    };
}
