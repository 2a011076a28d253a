using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// What the checker found in one scenario. The counts before <see cref="ExcusedOverlaps"/> and
/// <see cref="RecoveryViolations"/> must be 0; the rest are figures. <see cref="KeyHealToGrantMs"/>: the largest time
/// from a heal to the next grant of a key that someone waited for (the figure the recovery bound judges).
/// </summary>
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
    IReadOnlyList<string> Findings,
    int RecoveryViolations = 0,
    double? KeyHealToGrantMs = null)
{
    public bool Clean => Overlaps == 0 && TokenOrderViolations == 0 && StaleAccepted == 0 && FalseLosses == 0 && RecoveryViolations == 0;
}

/// <summary>
/// One wait of a flow for a key, from its <c>wait</c> line (sent before the call) to the first line that ends it:
/// <c>start</c> (granted), <c>timeout</c>, <c>error</c>, <c>quit</c> (the caller cancelled), <c>why</c>.
/// <see cref="End"/> null: still waiting when the history ends.
/// </summary>
public sealed record Wait(string Flow, string Key, long Start, long? End, string Outcome)
{
    public string Worker => Flow.Split('.')[0];

    public bool OpenAt(long at) => Start <= at && (End ?? long.MaxValue) > at;
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
/// <item>Recovery bound (issue 18): after a fault heals, a key that someone waits for is granted again within
/// <see cref="RecoverySlack"/>, later only as far as a holder in the way explains; see <see cref="Recovery"/>.</item>
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

    /// <summary>What the recovery bound allows on top of what a holder in the way explains (issue 18: 2 s).</summary>
    public static readonly TimeSpan RecoverySlack = TimeSpan.FromSeconds(2);

    public static IReadOnlyList<Wait> Waits(IReadOnlyList<RegisterEvent> history)
    {
        var waits = new List<Wait>();
        var open = new Dictionary<string, RegisterEvent>();
        foreach (var e in history.OrderBy(e => e.At))
        {
            if (e.Kind == "wait")
            {
                if (open.Remove(e.Flow, out var unfinished))
                {
                    waits.Add(new Wait(unfinished.Flow, unfinished.Key, unfinished.At, e.At, "unknown"));
                }

                open[e.Flow] = e;
            }
            else if (e.Kind is "start" or "timeout" or "error" or "quit" or "why" && open.Remove(e.Flow, out var wait))
            {
                waits.Add(new Wait(wait.Flow, wait.Key, wait.At, e.At, e.Kind == "start" ? "granted" : e.Kind));
            }
        }

        waits.AddRange(open.Values.Select(w => new Wait(w.Flow, w.Key, w.At, null, "open")));
        return waits;
    }

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

                // A state loss restarts Consul's indexes: a grant after it may carry a lower token than one before it. A
                // section's start is taken after its grant (and reported later still), so a grant made just before the
                // loss may show a start inside it: the predecessor counts as "before" up to the heal.
                if (i > 0 && b.Token <= ordered[i - 1].Token
                    && allFaults.Any(f => f.Excuse == FaultExcuse.StateLost && f.Start <= b.Start && ordered[i - 1].Start <= f.Heal))
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

        var (recoveryViolations, keyHealToGrant) = Recovery(scenario, history, sections, allFaults, findings);
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
            findings,
            recoveryViolations,
            keyHealToGrant);
    }

    /// <summary>
    /// The recovery bound of issue 18, per heal of a fault of the scenario and per key. What the history knows: when
    /// each flow began to wait for a key (its <c>wait</c> line) and stopped waiting, each section's grant (after the
    /// real one), end (before the real release) and lost-token, and each fault's start and heal. It does not know
    /// renewals, so a session's end is bounded from the lost-token.
    /// <list type="bullet">
    /// <item>Demand: a wait for the key open at the heal H, else the first wait that begins after H and before the next
    /// fault starts; its time D (H or that wait's start).</item>
    /// <item>Deadline: D + <see cref="RecoverySlack"/>, later where a section of the key that holds it at D explains
    /// it: its release, at its end or when the faults that cut its worker off at that moment healed, + the slack; and
    /// when its holder saw its lost-token (cut off or frozen past the TTL, its session destroyed, the state lost), the
    /// latest end of its session (2 x TTL after the lost-token, the holder's last renewal being before it; a leader
    /// elected meanwhile restarts Consul's timers: 2 x TTL after that heal) + the lock-delay + the slack. The same when
    /// its process was suspended while it held the key for at least 1.5 x TTL (Consul's timer may have run out; counted
    /// from the suspension's start), whether or not the register shows its lost-token. Key-wide: an operator's destroy
    /// keeps every key its session held then until the destroy + the lock-delay; a leader that replayed its Raft log
    /// less than a lock-delay before (a restarted server) may refuse any key until that replay + the lock-delay.</item>
    /// <item>Judged only when no other fault is active at H or starts before the deadline (then the window extends to
    /// that fault's heal, which is judged itself), and the deadline is before the workers stopped.</item>
    /// <item>Violation: no grant of the key from D to the deadline while someone still waits for it at the deadline.
    /// A holder the history does not know (a grant whose answer was lost, a queue entry of a cut-off waiter) explains
    /// nothing: the engine must clear those within the bound.</item>
    /// </list>
    /// Returns the violations (each also a finding) and the largest time from a heal to the next grant of a key that
    /// was waited for (judged pairs; with no grant, the time until the history ends, a lower bound).
    /// </summary>
    public static (int Violations, double? LargestMs) Recovery(
        ScenarioRun scenario, IReadOnlyList<RegisterEvent> history, IReadOnlyList<Section> sections, IReadOnlyList<Fault> allFaults, List<string> findings)
    {
        if (history.Count == 0)
        {
            return (0, null);
        }

        var waits = Waits(history);
        var sessionOf = history.Where(e => e.Kind == "start").GroupBy(e => (e.Flow, e.Key, e.Token)).ToDictionary(g => g.Key, g => g.First().Detail);
        var byes = history.Where(e => e.Kind == "bye").Select(e => e.At).ToList();
        var historyEnd = byes.Count > 0 ? byes.Min() : history.Max(e => e.At);
        var keys = sections.Select(s => s.Key).Concat(waits.Select(w => w.Key)).Where(k => k.Length > 0).Distinct().Order(StringComparer.Ordinal).ToList();
        var slack = Ticks(RecoverySlack);
        var violations = 0;
        double? largest = null;
        foreach (var fault in scenario.Faults)
        {
            var heal = fault.Heal;
            if (allFaults.Any(g => !ReferenceEquals(g, fault) && g.Start <= heal && g.Heal > heal))
            {
                continue;
            }

            var nextFault = allFaults.Where(g => g.Start > heal).Select(g => g.Start).DefaultIfEmpty(long.MaxValue).Min();
            foreach (var key in keys)
            {
                var keyWaits = waits.Where(w => w.Key == key).ToList();
                long demand;
                if (keyWaits.Any(w => w.OpenAt(heal)))
                {
                    demand = heal;
                }
                else if (keyWaits.Where(w => w.Start > heal && w.Start < nextFault).Select(w => (long?)w.Start).Min() is { } first)
                {
                    demand = first;
                }
                else
                {
                    continue;
                }

                var deadline = demand + slack;
                var why = new List<string>();
                // The last grant of the key before the demand: who may still hold it in Consul then (a holder cut off
                // releases only once it reaches Consul again; an earlier grant was superseded by this one).
                var before = sections.Where(s => s.Key == key && s.Start < demand).ToList();
                var lastStart = before.Count == 0 ? 0 : before.Max(s => s.Start);
                foreach (var holder in before.Where(s => s.Start == lastStart))
                {
                    if (holder.End is not { } end)
                    {
                        deadline = long.MaxValue;
                        break;
                    }

                    var release = ReleaseBy(holder);
                    deadline = Math.Max(deadline, release + slack);
                    if (release > demand)
                    {
                        why.Add($"{holder.Flow} held it (token {holder.Token}) until {At(end)}, could release it by {At(release)}");
                    }

                    // Its session may have ended in Consul, with the lock-delay on the key: when the holder saw its
                    // lost-token, and when its process was suspended while it held the key for longer than Consul's timer
                    // can run without a renewal (2 x TTL after the last one, which came at most TTL/2 before the suspension).
                    // A process resumed past that may end its section before its lost-token fires, so that the register
                    // shows no loss; the last renewal was before the suspension began.
                    var suspended = holder.Lost is null ? SuspendedPastItsSession(holder) : null;
                    if ((holder.Lost ?? suspended?.Start) is { } lost)
                    {
                        var sessionEnd = lost + (2 * Ticks(ChaosRun.SessionTtl));
                        for (var changed = true; changed;)
                        {
                            changed = false;
                            foreach (var f in allFaults.Where(f => f.Workers is null && f.Heal >= lost && f.Heal + (2 * Ticks(ChaosRun.SessionTtl)) > sessionEnd))
                            {
                                sessionEnd = f.Heal + (2 * Ticks(ChaosRun.SessionTtl));
                                changed = true;
                            }
                        }

                        if (sessionEnd + Ticks(ChaosRun.LockDelay) > demand)
                        {
                            deadline = Math.Max(deadline, sessionEnd + Ticks(ChaosRun.LockDelay) + slack);
                            why.Add(suspended is null
                                ? $"{holder.Flow} saw its lost-token at {At(lost)}: its session ends by {At(sessionEnd)}, + lock-delay"
                                : $"{holder.Flow}'s process was suspended from {At(suspended.Start)} to {At(suspended.Heal)}: its session ends by {At(sessionEnd)}, + lock-delay");
                        }
                    }
                }

                // An operator destroyed a session that held the key in Consul: Consul keeps it for the lock-delay after
                // the destroy, also when the register saw its holder end its section just before (its release not
                // landed yet when the destroy came). That is the key the operator aimed at, and any other key the session
                // held then: a worker's flows share one session.
                foreach (var destroy in allFaults.Where(f => f.LockDelayOnKey && f.Start <= demand && (f.Key == key || HeldBySession(key, f.Session, f.Start))))
                {
                    var free = destroy.Heal + Ticks(ChaosRun.LockDelay);
                    if (free > demand && free + slack > deadline)
                    {
                        deadline = free + slack;
                        why.Add($"'{destroy.Name}' at {At(destroy.Start)}: Consul's lock-delay keeps the key until {At(free)}");
                    }
                }

                // A restarted server replays its Raft log, and Consul re-arms the lock-delay of every key whose session
                // ended in that log, from the moment of the replay (lock-delays are wall-clock timers in each server's
                // memory, set as a session's end is applied). The leader enforces them: when the leader after a fault is
                // a server that replayed its log less than a lock-delay before, it may refuse any key until then.
                foreach (var replay in allFaults.Where(f => f.ReplayedLockDelayUntil > demand && f.Start <= demand))
                {
                    var until = replay.ReplayedLockDelayUntil!.Value;
                    if (until + slack > deadline)
                    {
                        deadline = until + slack;
                        why.Add($"after '{replay.Name}' the leader was a server that had replayed its log, re-arming Consul's lock-delays until {At(until)}");
                    }
                }

                if (deadline == long.MaxValue || deadline > historyEnd || allFaults.Any(g => g.Start > heal && g.Start <= deadline))
                {
                    continue;
                }

                var grant = sections.Where(s => s.Key == key && s.Start >= demand).Select(s => (long?)s.Start).Min();
                var figure = Ms((grant ?? historyEnd) - heal);
                largest = Math.Max(largest ?? 0, figure);
                if ((grant is null || grant > deadline) && keyWaits.Any(w => w.OpenAt(deadline)))
                {
                    violations++;
                    var waiting = keyWaits.Where(w => w.Start <= deadline && (w.End ?? long.MaxValue) > demand)
                        .Select(w => $"{w.Flow} {At(w.Start)}-{(w.End is { } e ? At(e) : "end")} {w.Outcome}");
                    findings.Add(
                        $"recovery bound: key {key} not granted within {Ms(deadline - heal):F0} ms of the heal of '{fault.Name}' (healed at {At(heal)}, waited for from {At(demand)}): " +
                        $"{(grant is { } g ? $"next grant {Ms(g - heal):F0} ms after the heal, at {At(g)}" : "no grant before the workers stopped")}; " +
                        $"holders in the way: {(why.Count == 0 ? "none known" : string.Join("; ", why))}; waiters: {string.Join(", ", waiting)}");
                }
            }
        }

        return (violations, largest);

        string At(long at) => $"{Ms(at - scenario.Start) / 1000:F1} s";

        // When a holder let go of the key in Consul at the latest: its section's end, or when the faults that cut its
        // worker off at that moment healed (it releases once it reaches Consul again).
        long ReleaseBy(Section holder)
        {
            if (holder.End is not { } release)
            {
                return long.MaxValue;
            }

            for (var changed = true; changed;)
            {
                changed = false;
                foreach (var f in allFaults.Where(f => f.Hits(holder.Worker) && f.Start <= release && f.Heal > release))
                {
                    release = f.Heal;
                    changed = true;
                }
            }

            return release;
        }

        Fault? SuspendedPastItsSession(Section holder) => allFaults
            .Where(f => f.Excuse == FaultExcuse.HolderSuspended && f.Hits(holder.Worker) && f.Start < (holder.End ?? long.MaxValue) && f.Heal > holder.Start
                && f.Heal - f.Start >= Ticks(ChaosRun.SessionTtl * 1.5))
            .MinBy(f => f.Start);

        // Whether a section of the session held the key in Consul at that moment: every grant to a session precedes its
        // end, so any section of it counts whose release may not have landed yet (a round trip after its end, or later
        // when its worker was cut off).
        bool HeldBySession(string key, string? session, long at) =>
            session is not null && sections.Any(s => s.Key == key && sessionOf.GetValueOrDefault((s.Flow, s.Key, s.Token)) == session && ReleaseBy(s) >= at - Ticks(TimeSpan.FromSeconds(1)));
    }

    /// <summary>The table the suite prints: one row per scenario, then the findings that make a row fail.</summary>
    public static string Format(IReadOnlyList<ScenarioReport> reports, string? footer = null)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{"scenario",-34} {"grants",6} {"overlap",7} {"tokord",6} {"staleOK",7} {"falseL",6} {"bound",5} | {"excused",7} {"tokreset",8} {"fenced",6} {"losses",6} {"tmouts",6} {"errors",6} {"key>grant ms",12} {"heal>grant ms",13} {"work in fault",13}");
        foreach (var r in reports)
        {
            var heal = r.HealToGrantMs is { } ms ? ms.ToString("F0", CultureInfo.InvariantCulture) : "-";
            var keyHeal = r.KeyHealToGrantMs is { } keyMs ? keyMs.ToString("F0", CultureInfo.InvariantCulture) : "-";
            text.AppendLine(CultureInfo.InvariantCulture, $"{r.Scenario,-34} {r.Grants,6} {r.Overlaps,7} {r.TokenOrderViolations,6} {r.StaleAccepted,7} {r.FalseLosses,6} {r.RecoveryViolations,5} | {r.ExcusedOverlaps,7} {r.TokenResets,8} {r.FencedOff,6} {r.Losses,6} {r.Timeouts,6} {r.Errors,6} {keyHeal,12} {heal,13} {r.WorkInFaults,13}");
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
    internal static bool CombinedFaultsCover(IReadOnlyList<Fault> faults, RegisterEvent loss)
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
