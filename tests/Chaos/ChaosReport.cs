using System.Globalization;
using System.Text;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// Ends a run: stops the workers, reads what is left in Consul, runs the checker and prints the table to the test
/// output, to standard output (so it shows in <c>eng/test.sh</c>'s log) and to <c>artifacts/chaos/NAME.txt</c>.
/// </summary>
public static class ChaosReport
{
    public static async Task<string> FinishAsync(ChaosRun run, Func<Task<Leftovers>> leftovers, string name, ITestOutputHelper output, TimeSpan elapsed, Exception? broken = null)
    {
        var failures = new List<string>();
        if (broken is not null)
        {
            failures.Add("the run broke off: " + broken);
        }

        var unstopped = await run.StopWorkersAsync().ConfigureAwait(false);
        failures.AddRange(unstopped.Select(w => "worker did not stop cleanly: " + w));

        var (held, unheld, sessions) = await leftovers().ConfigureAwait(false);
        failures.AddRange(held.Select(k => "key held with no handle: " + k));
        failures.AddRange(unheld.Select(k => "key left behind that nobody holds (a lock key or a queue entry): " + k));
        failures.AddRange(sessions.Select(s => "session left: " + s));

        var reports = run.Check();
        failures.AddRange(reports.Where(r => r.Scenario != "whole run" && !r.Clean).Select(r => $"scenario '{r.Scenario}' is not clean"));

        // Liveness: once everything has healed, every key is granted again.
        var last = run.Scenarios[^1];
        var sections = Checker.Sections(run.Register.Snapshot());
        failures.AddRange(run.Keys.Where(k => !sections.Any(s => s.Key == k && s.Start >= last.Start && s.Start < last.End))
            .Select(k => $"key {k} was never granted in the last phase ({last.Name})"));

        var history = run.Register.Snapshot();

        // The semaphore workload (issue 22): never more than its limit through the faults, no false loss, granted at the end.
        var permits = run.Scenarios.Select(s => PermitChecker.Check(s, history, run.Faults)).ToList();
        failures.AddRange(permits.Where(r => !r.Clean).Select(r => $"scenario '{r.Scenario}': the semaphore workload is not clean"));
        if (!PermitChecker.Sections(history).Any(s => s.Start >= last.Start && s.Start < last.End))
        {
            failures.Add($"the semaphore was never granted in the last phase ({last.Name})");
        }

        var errors = string.Join(", ", history.Where(e => e.Kind == "error").GroupBy(e => e.Detail.Split(':')[0]).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}"));
        var footer = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"keys held with no handle at the end: {held.Count}; keys left that nobody holds: {unheld.Count}; sessions left: {sessions.Count}; workers not stopped cleanly: {unstopped.Count}; run took {elapsed.TotalSeconds:F0} s")
            .AppendLine(CultureInfo.InvariantCulture, $"errors the workers' callers saw: {(errors.Length == 0 ? "none" : errors)}")
            .Append("counts left of '|' must be 0 (overlap: later grant before the holder released or saw its loss; tokord: fencing tokens not increasing; staleOK: register accepted a superseded token; falseL: loss with no cause in the schedule; bound: a key waited for not granted again within the recovery bound after a heal, 2 s or what a holder in the way explains); key>grant ms: the largest time from a heal to the next grant of a key someone waited for; excused: overlaps Consul allows by design (operator delete/force-release, state loss, holder suspended past the TTL); tokreset: grants after a state loss whose token is not above the last one before it; fenced: writes the register refused")
            .ToString();
        var table = $"chaos suite, {name}:\n" + Checker.Format(reports, footer) + PermitChecker.Format(permits) + string.Concat(failures.Select(f => "FAIL " + f + "\n"));
        output.WriteLine(table);
        Console.WriteLine(table);
        var folder = Path.Combine(ConsulBinary.RepositoryRoot, "artifacts", "chaos");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".txt"), table).ConfigureAwait(false);
        // The raw history and schedule, times in ms from the first scenario, for reading a failure afterwards.
        var zero = run.Scenarios[0].Start;
        var lines = run.Scenarios.Select(s => (s.Start, $"scenario {s.Name}"))
            .Concat(run.Faults.Select(f => (f.Start, $"fault {f.Name}, healed at {Checker.Ms(f.Heal - zero):F0}")))
            .Concat(history.Select(e => (e.At, $"{e.Kind} {e.Flow} {e.Key} {e.Token} {e.Detail}{(e.Accepted ? "" : " REJECTED")}")))
            .Concat(run.Workers.SelectMany(w => w.Logged.Select(l => (l.At, $"log {w.Name} {l.Line}"))))
            .OrderBy(l => l.Item1)
            .Select(l => $"{Checker.Ms(l.Item1 - zero),10:F0} {l.Item2}");
        await File.WriteAllLinesAsync(Path.Combine(folder, name + "-history.txt"), lines).ConfigureAwait(false);
        Assert.True(failures.Count == 0, table);
        return table;
    }
}
