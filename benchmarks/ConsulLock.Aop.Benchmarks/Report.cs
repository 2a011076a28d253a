using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>Turns the results into one Markdown document, printed to stdout and written to benchmarks/results/.</summary>
internal static class Report
{
    public const double LatencyTarget = 1.3;
    public const double ContendedTarget = 1.0 / 3;

    public static string Build(
        Settings settings, Machine machine, (string Before, string After) load, UncontendedResult a, ContendedResult b, IReadOnlyList<ThroughputPoint> c)
    {
        var md = new StringBuilder();
        var widest = c.MaxBy(p => p.Callers)!;
        md.AppendLine(Inv($"# ConsulLock.Aop benchmarks ({settings.Mode} mode)"));
        md.AppendLine();
        md.AppendLine(Inv($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine.Processors} logical CPUs ({machine.Cpu}); {machine.Os}; {machine.Runtime}; {machine.Consul}, a fresh `consul agent -dev` per scenario, on loopback on the same machine. 1-minute load average {load.Before} before, {load.After} after."));
        md.AppendLine(Inv($"Each figure is the median over {settings.Runs} runs; (min-max) is the spread of the runs. Each run measures ours next to its floor, and a ratio is the median of the {settings.Runs} per-run ratios."));
        md.AppendLine();

        md.AppendLine("## Summary");
        md.AppendLine();
        Table(md, ["Scenario", "Ours", "Floor", "Ratio", "Target", "Met"],
        [
            ["Floor: raw KV `?acquire` + `?release`, 1 reused session, 1 caller", "-",
                Inv($"{Rate(a.Floor.Select(r => r.CyclesPerSecond))} cycles/s, {Ms(a.FloorMedianMs)} median"), "-", "-", "-"],
            ["(a) Uncontended, 1 caller: median acquire + release latency",
                Ms(a.OursMedianMs), Ms(a.FloorMedianMs), Inv($"{a.LatencyRatio:0.00}x"), Inv($"<= {LatencyTarget:0.0}x"), YesNo(a.LatencyRatio <= LatencyTarget)],
            [Inv($"(b) 1 key, {Contended.ProviderCount * Contended.CallersPerProvider} callers on {Contended.ProviderCount} providers: grants/s vs floor cycles/s"),
                Inv($"{b.GrantsPerSecond:N0}/s"), Inv($"{b.FloorCyclesPerSecond:N0}/s"), Inv($"{b.Ratio:0.00}"), ">= 0.33", YesNo(b.Ratio >= ContendedTarget)],
            [Inv($"(c) {widest.Callers} callers on distinct keys, 1 provider: acquire + release per second"),
                Inv($"{widest.OursPerSecond:N0}/s"), Inv($"{widest.FloorPerSecond:N0}/s"), Inv($"{widest.Ratio:0.00}"), "-", "-"],
        ]);

        md.AppendLine(Inv($"## Floor and (a): one caller, {settings.Cycles} cycles per loop and run, the loops alternating every {Uncontended.Block} cycles"));
        md.AppendLine();
        Table(md, ["Measure", "Floor (raw KV)", "Reference: raw txn", "Ours (AcquireAsync + DisposeAsync)", "Ours / floor"],
        [
            ["Median cycle latency", Spread(a.Floor.Select(r => r.MedianMs), Ms), Spread(a.RawTxn.Select(r => r.MedianMs), Ms),
                Spread(a.Ours.Select(r => r.MedianMs), Ms), Inv($"{a.LatencyRatio:0.00}x ({a.RunRatios.Min():0.00}x-{a.RunRatios.Max():0.00}x)")],
            ["p95 cycle latency", Spread(a.Floor.Select(r => r.P95Ms), Ms), Spread(a.RawTxn.Select(r => r.P95Ms), Ms), Spread(a.Ours.Select(r => r.P95Ms), Ms),
                Inv($"{Stats.Median(a.Ours.Zip(a.Floor, (o, f) => o.P95Ms / f.P95Ms)):0.00}x")],
            ["Cycles per second", Spread(a.Floor.Select(r => r.CyclesPerSecond), Rate), Spread(a.RawTxn.Select(r => r.CyclesPerSecond), Rate),
                Spread(a.Ours.Select(r => r.CyclesPerSecond), Rate),
                Inv($"{Stats.Median(a.Ours.Zip(a.Floor, (o, f) => o.CyclesPerSecond / f.CyclesPerSecond)):0.00}")],
            ["Consul requests per cycle (ours: separate counted pass)", "2.00 (0.00 reads)", "2.00 (0.00 reads)", a.OursRequests.ToString(), "-"],
        ]);
        md.AppendLine("Raw txn sends the engine's own requests (txn check-index + lock, txn unlock) with no engine around them: ours minus raw txn is the engine's cost, raw txn minus floor is the cost of using transactions.");
        md.AppendLine();

        var all = b.Runs.Sum(r => r.Window.AllGrants);
        var byProvider = Enumerable.Range(0, Contended.ProviderCount)
            .Select(p => b.Runs.Sum(r => r.Window.Grants.PerCaller.Where((_, caller) => caller % Contended.ProviderCount == p).Sum()))
            .ToArray();
        var counted = Math.Max(1, byProvider.Sum());
        md.AppendLine(Inv($"## (b) One key, {Contended.ProviderCount} providers x {Contended.CallersPerProvider} callers: {settings.ContendedWindow.TotalSeconds:0.#} s windows"));
        md.AppendLine();
        Table(md, ["Measure", "Value"],
        [
            ["Grants per second", Spread(b.Runs.Select(r => r.Window.Grants.PerSecond), Rate)],
            [Inv($"Floor cycles per second (1 caller, {settings.Cycles} cycles next to each window)"), Spread(b.Runs.Select(r => r.Floor.CyclesPerSecond), Rate)],
            ["Grants/s divided by floor cycles/s", Inv($"{b.Ratio:0.00} (target >= 0.33: {YesNo(b.Ratio >= ContendedTarget)})")],
            ["Grants that moved the key to the other provider", Inv($"{Percent(b.Runs.Sum(r => r.Window.ProviderChanges), all)} of {all:N0}")],
            ["Cross-provider handoffs per second", Spread(b.Runs.Select(r => r.Window.Grants.PerSecond * r.Window.ProviderChanges / Math.Max(1, r.Window.AllGrants)), Rate)],
            ["Grants per provider", string.Join(" / ", byProvider.Select(n => Percent(n, counted)))],
            ["Grants per caller, slowest / fastest (all windows)", Inv($"{PerCaller(b).Min():N0} / {PerCaller(b).Max():N0}")],
            ["Times two callers held the key at once", Inv($"{b.Runs.Sum(r => r.Window.Overlaps)}")],
        ]);

        md.AppendLine(Inv($"## (c) Distinct keys, one provider: {settings.ThroughputWindow.TotalSeconds:0.#} s windows; floor and raw txn = one session per caller"));
        md.AppendLine();
        Table(md, ["Callers", "Floor, cycles/s", "Reference: raw txn, cycles/s", "Ours, cycles/s", "Ours / floor", "Ours per caller", "Ours: requests per cycle"],
            c.Select(p => (IReadOnlyList<string>)
            [
                Inv($"{p.Callers}"),
                Spread(p.Floor.Select(r => r.PerSecond), Rate),
                Spread(p.RawTxn.Select(r => r.PerSecond), Rate),
                Spread(p.Ours.Select(r => r.PerSecond), Rate),
                Inv($"{p.Ratio:0.00}"),
                Inv($"{p.OursPerSecond / p.Callers:N0}/s"),
                p.OursRequests.ToString(),
            ]).ToList());
        return md.ToString();
    }

    private static long[] PerCaller(ContendedResult b) =>
        Enumerable.Range(0, Contended.ProviderCount * Contended.CallersPerProvider)
            .Select(caller => b.Runs.Sum(r => r.Window.Grants.PerCaller[caller]))
            .ToArray();

    /// <summary>A Markdown table with padded columns, so that it also reads well as plain text.</summary>
    internal static void Table(StringBuilder md, IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        void Row(IEnumerable<string> cells) =>
            md.Append("| ").AppendJoin(" | ", cells.Select((cell, i) => cell.PadRight(widths[i]))).AppendLine(" |");
        Row(header);
        Row(widths.Select(w => new string('-', w)));
        foreach (var row in rows)
        {
            Row(row);
        }

        md.AppendLine();
    }

    private static string Spread(IEnumerable<double> values, Func<double, string> format)
    {
        var all = values.ToArray();
        return Inv($"{format(Stats.Median(all))} ({format(all.Min())}-{format(all.Max())})");
    }

    private static string Ms(double ms) => Inv($"{ms:0.00} ms");

    private static string Rate(double perSecond) => Inv($"{perSecond:N0}");

    private static string Rate(IEnumerable<double> perSecond) => Rate(Stats.Median(perSecond));

    private static string Percent(long part, long whole) => Inv($"{100.0 * part / Math.Max(1, whole):0}%");

    private static string YesNo(bool met) => met ? "yes" : "**no**";

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
