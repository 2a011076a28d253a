using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Chaos;

/// <summary>What the checker found in one scenario. The first five counts must be 0; the rest are figures.</summary>
public sealed record ScenarioReport(
    string Scenario,
    int Grants,
    int Overlaps,
    int TokenOrderViolations,
    int StaleAccepted,
    int FalseLosses,
    int ExcusedOverlaps,
    int TokenResets,
    int FencedOff,
    int Losses,
    int Timeouts,
    int Errors,
    double? HealToGrantMs,
    int WorkInFaults,
    IReadOnlyList<string> Findings)
{
    public bool Clean => Overlaps == 0 && TokenOrderViolations == 0 && StaleAccepted == 0 && FalseLosses == 0;
}

/// <summary>
/// Reads a register history against the nemesis's schedule (Jepsen-style: the history is the only evidence).
/// Rules, all on the monotonic clock:
/// <list type="bullet">
/// <item>Overlap: a section B on a key starts before an earlier section A on that key ended or saw its lost-token.
/// Excused (counted apart) only when A's worker was suspended in between, or an operator/state-loss fault handed
/// A's key over without lock-delay in between.</item>
/// <item>Token order: grants of a key, in start order, carry strictly increasing fencing tokens.</item>
/// <item>Stale accepted: the register accepted a write whose token is lower than that of a section of the key that
/// had already started.</item>
/// <item>False loss: a lost-token of a worker at a time no fault that may cause a loss for that worker covers
/// (from its start to its heal plus <see cref="LossGrace"/>), nor two overlapping faults on that worker that last
/// <see cref="CombinedOutage"/> together.</item>
/// </list>
/// </summary>
public static class Checker
{
    /// <summary>How long after a fault heals a loss it caused may still be reported (evidence arrives late: a watch
    /// reconnects, a renewal is answered "session not found"). Two TTLs plus a margin, see docs/reliability.md.</summary>
    public static readonly TimeSpan LossGrace = TimeSpan.FromSeconds(30);

    /// <summary>How long overlapping faults on one worker must last together to count as a cause of a loss: the
    /// single-fault threshold, TTL/2 (see <c>Nemesis.OutageMayCauseLoss</c>).</summary>
    public static readonly TimeSpan CombinedOutage = ChaosRun.SessionTtl / 2;

    public static IReadOnlyList<Section> Sections(IReadOnlyList<RegisterEvent> history)
    {
        var sections = new List<Section>();
        // A flow runs one section at a time: each start pairs with the flow's next end.
        var open = new Dictionary<string, (RegisterEvent Start, long? Lost)>();
        foreach (var e in history.OrderBy(e => e.At))
        {
            switch (e.Kind)
            {
                case "start":
                    if (open.Remove(e.Flow, out var unfinished))
                    {
                        sections.Add(Close(unfinished.Start, unfinished.Lost, null));
                    }

                    open[e.Flow] = (e, null);
                    break;
                case "lost" when open.TryGetValue(e.Flow, out var current) && current.Start.Key == e.Key && current.Start.Token == e.Token:
                    open[e.Flow] = (current.Start, current.Lost ?? e.At);
                    break;
                case "lost":
                    // A lost-token that fired after its section ended: the holder no longer believed anything.
                    break;
                case "end" when open.Remove(e.Flow, out var started):
                    sections.Add(Close(started.Start, started.Lost, e));
                    break;
            }
        }

        sections.AddRange(open.Values.Select(o => Close(o.Start, o.Lost, null)));
        return sections;

        static Section Close(RegisterEvent start, long? lost, RegisterEvent? end) =>
            new(start.Flow, start.Key, start.Token, start.At, end?.At, lost, end?.Detail ?? "open", start.Accepted, end?.Accepted ?? false);
    }

    public static ScenarioReport Check(ScenarioRun scenario, IReadOnlyList<RegisterEvent> history, IReadOnlyList<Fault> allFaults)
    {
        var findings = new List<string>();
        var sections = Sections(history);
        bool InScenario(long at) => at >= scenario.Start && at < scenario.End;

        var grants = sections.Where(s => InScenario(s.Start)).ToList();
        int overlaps = 0, excused = 0, tokenOrder = 0, tokenReset = 0, staleAccepted = 0, falseLosses = 0;

        foreach (var byKey in sections.GroupBy(s => s.Key))
        {
            var ordered = byKey.OrderBy(s => s.Start).ToList();
            for (var i = 0; i < ordered.Count; i++)
            {
                var b = ordered[i];
                if (!InScenario(b.Start))
                {
                    continue;
                }

                if (i > 0 && b.Token <= ordered[i - 1].Token && allFaults.Any(f => f.Excuse == FaultExcuse.StateLost && f.Start >= ordered[i - 1].Start && f.Start <= b.Start))
                {
                    tokenReset++;
                }
                else if (i > 0 && b.Token <= ordered[i - 1].Token)
                {
                    tokenOrder++;
                    findings.Add($"token order: {b.Flow} got {b.Key} with token {b.Token} after {ordered[i - 1].Flow}'s {ordered[i - 1].Token}");
                }

                for (var j = 0; j < i; j++)
                {
                    var a = ordered[j];
                    if (a.BelievedUntil <= b.Start || a.Flow == b.Flow)
                    {
                        continue;
                    }

                    var excuse = allFaults.FirstOrDefault(f => Excuses(f, a, b));
                    if (excuse is not null)
                    {
                        excused++;
                        continue;
                    }

                    overlaps++;
                    findings.Add($"overlap on {b.Key}: {b.Flow} (token {b.Token}) started {Ms(b.Start - a.Start)} ms into {a.Flow}'s section (token {a.Token}), {Describe(a.BelievedUntil - b.Start)} before {a.Flow} released or saw a loss");
                }
            }
        }

        foreach (var write in history.Where(e => e.Accepted && e.Kind is "start" or "end" && InScenario(e.At)))
        {
            var superseding = sections.FirstOrDefault(s => s.Key == write.Key && s.Token > write.Token && s.Start < write.At);
            if (superseding is not null)
            {
                staleAccepted++;
                findings.Add($"stale write accepted: {write.Flow}'s {write.Kind} on {write.Key} with token {write.Token} after {superseding.Flow}'s grant with {superseding.Token}");
            }
        }

        var losses = history.Where(e => e.Kind == "lost" && InScenario(e.At)).ToList();
        foreach (var loss in losses)
        {
            var cause = allFaults.Any(f => f.MayCauseLoss && f.Hits(loss.Worker) && loss.At >= f.Start && loss.At <= f.Heal + Ticks(LossGrace))
                || CombinedFaultsCover(allFaults, loss);
            if (!cause)
            {
                falseLosses++;
                findings.Add($"false loss: {loss.Flow}'s lost-token on {loss.Key} (token {loss.Token}) fired with no cause in the schedule");
            }
        }

        double? healToGrant = null;
        foreach (var fault in scenario.Faults)
        {
            var next = sections.Where(s => s.Start >= fault.Heal).Select(s => (long?)s.Start).Min();
            if (next is { } at)
            {
                healToGrant = Math.Max(healToGrant ?? 0, Ms(at - fault.Heal));
            }
            else
            {
                findings.Add($"no grant after {fault.Name} healed");
            }
        }

        var workInFaults = sections.Count(s => s.Outcome == "done" && scenario.Faults.Any(f => s.End >= f.Start && s.End <= f.Heal));
        return new ScenarioReport(
            scenario.Name,
            grants.Count,
            overlaps,
            tokenOrder,
            staleAccepted,
            falseLosses,
            excused,
            tokenReset,
            history.Count(e => !e.Accepted && InScenario(e.At)),
            losses.Count,
            history.Count(e => e.Kind == "timeout" && InScenario(e.At)),
            history.Count(e => e.Kind == "error" && InScenario(e.At)),
            healToGrant,
            workInFaults,
            findings);
    }

    /// <summary>The table the suite prints: one row per scenario, then the findings that make a row fail.</summary>
    public static string Format(IReadOnlyList<ScenarioReport> reports, string? footer = null)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{"scenario",-34} {"grants",6} {"overlap",7} {"tokord",6} {"staleOK",7} {"falseL",6} | {"excused",7} {"tokreset",8} {"fenced",6} {"losses",6} {"tmouts",6} {"errors",6} {"heal>grant ms",13} {"work in fault",13}");
        foreach (var r in reports)
        {
            var heal = r.HealToGrantMs is { } ms ? ms.ToString("F0", CultureInfo.InvariantCulture) : "-";
            text.AppendLine(CultureInfo.InvariantCulture, $"{r.Scenario,-34} {r.Grants,6} {r.Overlaps,7} {r.TokenOrderViolations,6} {r.StaleAccepted,7} {r.FalseLosses,6} | {r.ExcusedOverlaps,7} {r.TokenResets,8} {r.FencedOff,6} {r.Losses,6} {r.Timeouts,6} {r.Errors,6} {heal,13} {r.WorkInFaults,13}");
        }

        if (footer is not null)
        {
            text.AppendLine(footer);
        }

        foreach (var r in reports.Where(r => r.Findings.Count > 0))
        {
            foreach (var finding in r.Findings.Take(20))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  [{r.Scenario}] {finding}");
            }

            if (r.Findings.Count > 20)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  [{r.Scenario}] ... {r.Findings.Count - 20} more");
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Two faults that hit the same worker at overlapping times (a leader election while its requests are delayed)
    /// add up in ways the suite cannot bound from outside: the engine's retries and backoff come on top of both. When
    /// their joint window lasts at least <see cref="CombinedOutage"/>, a loss in it (or within <see cref="LossGrace"/>
    /// after it) has a cause even if neither fault alone may cause one. Single faults keep the strict rule.
    /// </summary>
    private static bool CombinedFaultsCover(IReadOnlyList<Fault> faults, RegisterEvent loss)
    {
        var hits = faults.Where(f => f.Hits(loss.Worker) && f.Heal > f.Start).ToList();
        foreach (var first in hits)
        {
            foreach (var second in hits.Where(g => !ReferenceEquals(g, first) && g.Start < first.Heal && first.Start < g.Heal))
            {
                var start = Math.Min(first.Start, second.Start);
                var heal = Math.Max(first.Heal, second.Heal);
                if (heal - start >= Ticks(CombinedOutage) && loss.At >= start && loss.At <= heal + Ticks(LossGrace))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static bool Excuses(Fault fault, Section a, Section b) => fault.Excuse switch
    {
        // The holder's process did not run at some point between its grant and the next one.
        FaultExcuse.HolderSuspended => fault.Hits(a.Worker) && fault.Start < b.Start && fault.Heal > a.Start,
        // The key was taken from the holder by Consul without lock-delay between the two grants (somewhere in the
        // fault's window: an operator's call may take a while when the cluster is down too).
        FaultExcuse.HandoverWithoutLockDelay or FaultExcuse.StateLost => (fault.Key is null || fault.Key == a.Key) && fault.Heal >= a.Start && fault.Start <= b.Start,
        _ => false,
    };

    private static string Describe(long ticks) => ticks == long.MaxValue - 1 || ticks > Ticks(TimeSpan.FromDays(1)) ? "never" : Ms(ticks).ToString("F0", CultureInfo.InvariantCulture) + " ms";
}
