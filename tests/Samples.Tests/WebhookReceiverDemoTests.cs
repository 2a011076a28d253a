using System.Text.RegularExpressions;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>
/// The README's first command, end to end: three receiver processes, 200 events delivered at least once, two lost
/// locks; the verdict holds, and the log, the timeline and the picture tell the same story.
/// </summary>
public sealed partial class WebhookReceiverDemoTests
{
    [Fact]
    public async Task The_demo_applies_every_event_exactly_once_and_its_log_timeline_and_picture_agree()
    {
        // No CONSUL_HTTP_ADDR: the demo provisions and starts its own agent, as on a newcomer's machine.
        var (exitCode, output) = await SampleProcess.RunAsync(
            SampleProcess.PathOf("WebhookReceiver", "WebhookReceiver"), [], TimeSpan.FromSeconds(90), ("CONSUL_HTTP_ADDR", null));

        Assert.True(exitCode == 0, output);
        Assert.Contains("events applied exactly once:       200 of 200", output, StringComparison.Ordinal);
        Assert.Contains("events applied more than once:     0 (must be 0)", output, StringComparison.Ordinal);
        Assert.Contains("events never applied:              0 (must be 0)", output, StringComparison.Ordinal);
        Assert.Contains("overlapping holds of one key:      0 (must be 0)", output, StringComparison.Ordinal);
        Assert.True(int.Parse(Figure(output, "duplicate deliveries absorbed"), System.Globalization.CultureInfo.InvariantCulture) > 0, output);
        Assert.True(int.Parse(Figure(output, "stale fencing tokens refused"), System.Globalization.CultureInfo.InvariantCulture) > 0, output);
        Assert.Matches(LockWaitLine(), output);
        Assert.Contains("PASS", output, StringComparison.Ordinal);
        Assert.Equal(3, HealthyReceiver().Count(output)); // the library's health check, served by each receiver

        // Lost lock 1: the narrative's receiver and token are those of the timeline's cancelled hold of that event.
        var first = LostLockOne().Match(output);
        Assert.True(first.Success, output);
        var firstEvent = TimelineOf(output, first.Groups["event"].Value);
        Assert.Matches($@"{first.Groups["receiver"].Value}  token {first.Groups["token"].Value}\s+session \w+  held: LOST the lock mid-call", firstEvent);
        Assert.Contains("abandoned: the caller hung up", firstEvent, StringComparison.Ordinal);

        // Lost lock 2: the late write the store refused carries the narrative's token; a newer token applied the event.
        var second = LostLockTwo().Match(output);
        Assert.True(second.Success, output);
        var secondEvent = TimelineOf(output, second.Groups["event"].Value);
        Assert.Matches($@"{second.Groups["receiver"].Value}  token {second.Groups["token"].Value}\s+session \w+  held: LOST the lock mid-call", secondEvent);
        Assert.Contains($"REFUSED: stale token ({second.Groups["winner"].Value} seen)", secondEvent, StringComparison.Ordinal);
        Assert.Matches($@"token {second.Groups["winner"].Value}\s+session \w+  held: applied the event", secondEvent);

        // Every loss a receiver logged is a lost hold in the timeline with the same receiver, token and session
        // (for the events the timeline shows).
        var logged = ReceiverLostLine().Matches(output);
        Assert.NotEmpty(logged);
        foreach (Match line in logged)
        {
            if (TimelineOf(output, line.Groups["event"].Value) is { Length: > 0 } timeline)
            {
                Assert.Matches($@"{line.Groups["receiver"].Value}  token {line.Groups["token"].Value}\s+session {line.Groups["session"].Value}  held: LOST", timeline);
            }
        }

        var page = PicturePath().Match(output);
        Assert.True(page.Success, output);
        var html = await File.ReadAllTextAsync(page.Groups["path"].Value.Trim());
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.Contains($"webhook_receiver/{first.Groups["event"].Value}", html, StringComparison.Ordinal);
        Assert.Contains("lost lock 2: late write refused", html, StringComparison.Ordinal);
        Assert.Equal(200, RowLabel().Count(html));
        var svg = System.Xml.Linq.XElement.Parse(html[html.IndexOf("<svg", StringComparison.Ordinal)..(html.IndexOf("</svg>", StringComparison.Ordinal) + "</svg>".Length)]);
        Assert.Equal("svg", svg.Name.LocalName); // well-formed, so a browser draws all of it
    }

    [Fact]
    public async Task With_a_key_prefix_per_receiver_the_locks_exclude_nobody_and_the_verdict_fails()
    {
        // The check that the verdict can fail: a real configuration mistake that leaves the lock useless.
        var (exitCode, output) = await SampleProcess.RunAsync(
            SampleProcess.PathOf("WebhookReceiver", "WebhookReceiver"), [], TimeSpan.FromSeconds(90),
            ("CONSUL_HTTP_ADDR", null), ("DEMO_MISCONFIGURE", "prefix-per-receiver"));

        Assert.True(exitCode == 1, output);
        Assert.Contains("MISCONFIGURED on purpose", output, StringComparison.Ordinal);
        Assert.True(int.Parse(Figure(output, "overlapping holds of one key"), System.Globalization.CultureInfo.InvariantCulture) > 0, output);
        Assert.Contains("FAIL: see above.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("PASS", output, StringComparison.Ordinal);
    }

    private static string Figure(string output, string label) =>
        Regex.Match(output, Regex.Escape(label) + @":\s+(\d+)").Groups[1].Value;

    /// <summary>The text timeline's block for one event: from its heading to the next event's heading.</summary>
    private static string TimelineOf(string output, string eventId)
    {
        var start = output.IndexOf($"\n{eventId}: ", StringComparison.Ordinal);
        if (start < 0)
        {
            return "";
        }

        var next = EventHeading().Match(output, start + eventId.Length + 2);
        return output[start..(next.Success ? next.Index : output.Length)];
    }

    [GeneratedRegex(@"LOST LOCK 1: (?<receiver>receiver-\d) asks the store about (?<event>evt-\d+) \(token (?<token>\d+)\)")]
    private static partial Regex LostLockOne();

    [GeneratedRegex(@"LOST LOCK 2: meanwhile receiver-\d took the lock after the lock-delay and applied (?<event>evt-\d+) with token (?<winner>\d+); now the store decides (?<receiver>receiver-\d)'s late write \(token (?<token>\d+)\)")]
    private static partial Regex LostLockTwo();

    [GeneratedRegex(@"\[(?<receiver>receiver-\d)\] [0-9.]+s (?<event>evt-\d+) token (?<token>\d+) session (?<session>\w+): LOST the lock mid-call")]
    private static partial Regex ReceiverLostLine();

    [GeneratedRegex(@"lock wait \(consullock\.wait\.duration, [1-9]\d* waits\):\s+p50 [0-9.]+ ms, p99 [0-9.]+ ms")]
    private static partial Regex LockWaitLine();

    [GeneratedRegex(@"The picture of who held which key when: (?<path>\S+\.html)")]
    private static partial Regex PicturePath();

    [GeneratedRegex(@"\n(evt-\d+: |\n|Verdict)")]
    private static partial Regex EventHeading();

    [GeneratedRegex(@"receiver-\d /healthz: Healthy")]
    private static partial Regex HealthyReceiver();

    [GeneratedRegex(@">webhook_receiver/evt-\d+</text>")]
    private static partial Regex RowLabel();
}
