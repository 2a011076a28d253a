using System.Globalization;
using System.Net;
using System.Text;
using WebhookReceiver.Contracts;
using WebhookReceiver.Store;

namespace WebhookReceiver.Demo;

/// <summary>
/// A self-contained HTML page (inline SVG, no scripts, nothing fetched) of who held which key when: one row per
/// event, one bar per hold coloured by receiver, lost holds in red, the store's refusals marked. Hover for details.
/// </summary>
public static class TimelinePage
{
    private const int Left = 190;
    private const int Width = 1100;
    private const int Row = 12;
    private const int Top = 70;
    private static readonly string[] s_colours = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f"];

    /// <summary>Writes the page under artifacts/demo/ and returns its full path.</summary>
    public static string Write(IReadOnlyList<string> events, IReadOnlyList<HoldRecord> holds, IReadOnlyList<StoreOp> ops, LostLockMoments moments)
    {
        var folder = Path.Combine(LocalConsul.RepositoryRootOrCurrent(), "artifacts", "demo");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "webhook-demo.html");
        File.WriteAllText(path, Render(events, holds, ops, moments));
        return path;
    }

    public static string Render(IReadOnlyList<string> events, IReadOnlyList<HoldRecord> holds, IReadOnlyList<StoreOp> ops, LostLockMoments moments)
    {
        var byEvent = holds.ToLookup(h => h.EventId);
        var rows = events.OrderBy(e => byEvent[e].Select(h => h.Start).DefaultIfEmpty(double.MaxValue).Min()).ToList();
        var receivers = holds.Select(h => h.Receiver).Distinct().Order(StringComparer.Ordinal).ToList();
        // The axis spans the holds (the start-up before the first delivery would only squeeze them), in whole seconds.
        var start = Math.Floor(holds.Select(h => h.Start).DefaultIfEmpty(0).Min());
        var end = Math.Ceiling(Math.Max(start + 1, holds.Select(h => h.End).Concat(ops.Select(o => o.Decided)).DefaultIfEmpty(start + 1).Max()));
        var span = end - start;
        string X(double t) => F(Left + (t - start) / span * Width);
        string Colour(string receiver) => s_colours[Math.Max(0, receivers.IndexOf(receiver)) % s_colours.Length];

        var svg = new StringBuilder();
        var height = Top + rows.Count * Row + 20;
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Left + Width + 260}\" height=\"{height}\" font-family=\"monospace\" font-size=\"10\">");
        for (var i = 0; i < receivers.Count; i++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left + i * 120}\" y=\"8\" width=\"12\" height=\"10\" fill=\"{Colour(receivers[i])}\"/><text x=\"{Left + i * 120 + 16}\" y=\"17\">{receivers[i]}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left + receivers.Count * 120}\" y=\"8\" width=\"12\" height=\"10\" fill=\"#e15759\" stroke=\"#000\"/><text x=\"{Left + receivers.Count * 120 + 16}\" y=\"17\">lock lost mid-call</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + receivers.Count * 120 + 140}\" y=\"17\" fill=\"#c00\">&#9670; store refused a stale token   &#215; call abandoned</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"34\">faded bar: a duplicate delivery that found the event applied; full bar: the hold that applied it</text>");
        for (var tick = start; tick <= end; tick += 0.5)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(tick)}\" y1=\"{Top - 14}\" x2=\"{X(tick)}\" y2=\"{height - 20}\" stroke=\"#ddd\"/><text x=\"{X(tick)}\" y=\"{Top - 18}\" text-anchor=\"middle\">{tick:0.0}s</text>");
        }

        for (var i = 0; i < rows.Count; i++)
        {
            var id = rows[i];
            var y = Top + i * Row;
            var note = id == moments.CancelledEvent ? "lost lock 1: call cancelled" : id == moments.RefusedEvent ? "lost lock 2: late write refused" : null;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{y + 9}\"{(note is null ? "" : " fill=\"#c00\" font-weight=\"bold\"")}>webhook_receiver/{id}</text>");
            foreach (var hold in byEvent[id])
            {
                var lost = hold.Outcome == HoldOutcome.Lost;
                var barWidth = Math.Max(2, (hold.End - hold.Start) / span * Width);
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect x=\"{X(hold.Start)}\" y=\"{y + 1}\" width=\"{F(barWidth)}\" height=\"{Row - 2}\" fill=\"{(lost ? "#e15759" : Colour(hold.Receiver))}\"{(lost ? " stroke=\"#000\"" : "")}{(hold.Outcome == HoldOutcome.Duplicate ? " fill-opacity=\"0.4\"" : "")}>"
                    + $"<title>{Escape($"{hold.Receiver} held webhook_receiver/{id} from {hold.Start:0.000}s to {hold.End:0.000}s, token {hold.Token}, session {hold.Session}: {Timeline.Describe(hold.Outcome)}")}</title></rect>");
            }

            foreach (var op in ops.Where(o => o.EventId == id && o.Result is StoreOpResult.RefusedStale or StoreOpResult.Abandoned))
            {
                var mark = op.Result == StoreOpResult.RefusedStale ? "&#9670;" : "&#215;";
                svg.Append(CultureInfo.InvariantCulture,
                    $"<text x=\"{X(op.Decided)}\" y=\"{y + 10}\" fill=\"#c00\" font-size=\"12\" text-anchor=\"middle\">{mark}<title>{Escape($"store, {op.Decided:0.000}s: {op.Kind.ToString().ToLowerInvariant()} from {op.Receiver} with token {op.Token}: {Timeline.Describe(op)}")}</title></text>");
            }

            if (note is not null)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + Width + 8}\" y=\"{y + 9}\" fill=\"#c00\" font-weight=\"bold\">&#8592; {note}</text>");
            }
        }

        svg.Append("</svg>");
        return $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>ConsulLock.Aop webhook demo: who held which key when</title></head>
            <body style="font-family: sans-serif">
            <h1>Who held which key when</h1>
            <p>{events.Count} events, each delivered at least once to three receivers. One row per lock key, one bar per hold
            (grant to end of the body). Hover a bar or a mark for receiver, fencing token and session.</p>
            {svg}
            </body></html>
            """;
    }

    private static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
