using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>
/// The leader-job sample against one agent, as processes: a [ConsulLeader] BackgroundService in several copies leads
/// one at a time, hands over on SIGTERM within a round trip and on SIGKILL once Consul drops the session, survives
/// its session being destroyed, and every copy (and a watch-only one) sees each leader in order. Plus DI,
/// configuration, the imperative API and OpenTelemetry. The bodies print each term's start and end with their
/// fencing token and a UTC time stamp; the test reads its verdict from those lines.
/// </summary>
public sealed partial class LeaderJobTests(ITestOutputHelper output) : IAsyncLifetime
{
    // The sample's appsettings.json: SessionTtl 10s, LockDelay 1s.
    private static readonly TimeSpan s_ttl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_lockDelay = TimeSpan.FromSeconds(1);

    private ConsulAgent? _agent;

    private (string, string?) Environment => ("CONSUL_HTTP_ADDR", _agent!.Address.ToString());

    private static string Dll => SampleProcess.PathOf("LeaderJob", "LeaderJob");

    [Fact]
    public async Task Three_instances_that_each_resign_after_two_reports_lead_one_at_a_time_with_increasing_fencing_tokens()
    {
        var runs = await Task.WhenAll(new[] { "a", "b", "c" }.Select(name => SampleProcess.RunAsync(
            Dll, [$"--ConsulLock:InstanceName={name}", "--LeaderJob:ReportsPerTerm=2", "--LeaderJob:Telemetry=false"], TimeSpan.FromSeconds(90), Environment)));

        var terms = new List<Term>();
        foreach (var ((exitCode, text), name) in runs.Zip(new[] { "a", "b", "c" }))
        {
            Assert.True(exitCode == 0, text);
            Assert.Single(MigrationLine().Matches(text));
            var began = TermBegan().Matches(text);
            var ended = TermEnded().Matches(text);
            Assert.Single(began);
            Assert.Single(ended);
            Assert.Equal(2, ReportLine().Count(text));
            terms.Add(new Term(name, Token(began[0]), Time(began[0]), Time(ended[0])));
        }

        AssertOneAtATime(terms);
        // The instance that led first saw no earlier leader; the last saw both others lead before it.
        var last = terms.OrderBy(t => t.Began).Last();
        var lastOutput = runs[Array.IndexOf(["a", "b", "c"], last.Instance)].Output;
        Assert.All(terms.Where(t => t != last), t => Assert.Contains($"leader: {t.Instance} (fencing token {t.Token}", lastOutput, StringComparison.Ordinal));
    }

    /// <summary>
    /// Issue 21's acceptance, on one agent: three instances and a fourth that only watches. SIGTERM to the leader hands
    /// over within 2 s; SIGKILL within 2 x TTL + lock-delay + 2 s; the leader's session destroyed by an operator ends its
    /// term, another leads, and the old one campaigns again and leads when that one stops. The watcher sees every
    /// term's instance in order; terms never overlap and their fencing tokens strictly increase.
    /// </summary>
    [Fact]
    public async Task Handovers_on_SIGTERM_SIGKILL_and_a_destroyed_session_keep_one_term_at_a_time_and_the_watcher_sees_each()
    {
        await using var watcher = Start("watcher", "--LeaderJob:Campaign=false");
        await watcher.WaitForAsync(LeaderNone(), TimeSpan.FromSeconds(30));
        var running = new List<SampleInstance> { Start("a"), Start("b"), Start("c") };
        var terms = new List<Term>();
        try
        {
            // 1. Graceful: SIGTERM to the first leader.
            var (first, firstTerm) = await NextLeaderAsync(running, terms);
            await UntilStandingByAsync(running.Where(i => i != first), firstTerm);
            var stopped = DateTimeOffset.UtcNow;
            await first.SignalAsync("TERM");
            running.Remove(first);
            var (second, secondTerm) = await NextLeaderAsync(running, terms);
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            terms[0] = terms[0] with { Ended = Time(first.Matches(TermEnded()).Single()) };
            var graceful = secondTerm.Began - stopped;
            output.WriteLine($"SIGTERM to {first.Name}: {second.Name} led {graceful.TotalMilliseconds:0} ms later");
            Assert.True(graceful < TimeSpan.FromSeconds(2), $"the next term began {graceful} after SIGTERM");

            // 2. Crash: SIGKILL to the second leader; Consul lets its session go within 2 x TTL, then the lock-delay.
            await UntilStandingByAsync(running.Where(i => i != second), secondTerm);
            var killed = DateTimeOffset.UtcNow;
            await second.SignalAsync("KILL");
            running.Remove(second);
            var bound = (2 * s_ttl) + s_lockDelay + TimeSpan.FromSeconds(2);
            var (third, thirdTerm) = await NextLeaderAsync(running, terms, bound + TimeSpan.FromSeconds(10));
            terms[1] = terms[1] with { Ended = killed }; // a crashed leader writes no end: its term ended at the latest then
            var crash = thirdTerm.Began - killed;
            output.WriteLine($"SIGKILL to {second.Name}: {third.Name} led {crash.TotalSeconds:0.0} s later (bound {bound.TotalSeconds} s)");
            Assert.True(crash < bound, $"the next term began {crash} after SIGKILL");

            // 3. An operator destroys the third leader's session while a fresh instance stands by.
            var fourth = Start("d");
            running.Add(fourth);
            await UntilStandingByAsync([fourth], thirdTerm);
            await DestroySessionOfTheLeaderAsync();
            await third.WaitForAsync(TermEnded(), TimeSpan.FromSeconds(30));
            var (next, _) = await NextLeaderAsync(running, terms);
            Assert.Same(fourth, next);
            Assert.Contains(third.Matches(TermEnded()), m => m.Value.Contains("leadership lost", StringComparison.Ordinal));

            // 4. The fresh one stops: the old one, campaigning again all along, leads again.
            await fourth.SignalAsync("TERM");
            running.Remove(fourth);
            var (again, _) = await NextLeaderAsync(running, terms);
            Assert.Same(third, again);
            Assert.Equal(0, await fourth.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            terms[3] = terms[3] with { Ended = Time(fourth.Matches(TermEnded()).Single()) };

            // 5. The last stops; the watcher saw each term's instance, in order.
            await third.SignalAsync("TERM");
            Assert.Equal(0, await third.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var thirdEnds = third.Matches(TermEnded());
            terms[2] = terms[2] with { Ended = Time(thirdEnds[0]) };
            terms[4] = terms[4] with { Ended = Time(thirdEnds[1]) };
            await watcher.WaitForAsync(LeaderLineOf(terms[4]), TimeSpan.FromSeconds(30));

            AssertOneAtATime(terms);
            var seen = watcher.Matches(LeaderIs()).Select(m => (m.Groups["instance"].Value, ulong.Parse(m.Groups["token"].Value, CultureInfo.InvariantCulture)))
                .Distinct().ToList();
            Assert.Equal(terms.Select(t => (t.Instance, t.Token)), seen);
            output.WriteLine("terms: " + string.Join(", ", terms.Select(t => $"{t.Instance}#{t.Token} {t.Began:HH:mm:ss.fff}-{t.Ended:HH:mm:ss.fff}")));
        }
        finally
        {
            foreach (var instance in running)
            {
                await instance.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task The_library_traces_and_metrics_reach_OpenTelemetry_s_console_exporter()
    {
        var (exitCode, text) = await SampleProcess.RunAsync(Dll, ["--LeaderJob:ReportsPerTerm=1"], TimeSpan.FromSeconds(60), Environment);

        Assert.True(exitCode == 0, text);
        Assert.Matches(@"Activity\.DisplayName:\s+ConsulLock\.Acquire", text);
        Assert.Contains("consullock.key: leader-job-sample/schema-migration", text, StringComparison.Ordinal);
        Assert.Contains("consullock.key: leader-job-sample/leaders/report-scheduler", text, StringComparison.Ordinal);
        Assert.Contains("consullock.outcome: acquired", text, StringComparison.Ordinal);
        Assert.Contains("Metric Name: consullock.acquire.duration, Description: Time from an acquire call to its outcome., Unit: s", text, StringComparison.Ordinal);
        Assert.Contains("Metric Name: consullock.hold.duration", text, StringComparison.Ordinal);
        Assert.Contains("(0.001,0.0025]", text, StringComparison.Ordinal); // buckets in seconds, not OpenTelemetry's millisecond defaults
    }

    [Fact]
    public async Task With_telemetry_off_nothing_is_exported()
    {
        var (exitCode, text) = await SampleProcess.RunAsync(Dll, ["--LeaderJob:ReportsPerTerm=1", "--LeaderJob:Telemetry=false"], TimeSpan.FromSeconds(60), Environment);

        Assert.True(exitCode == 0, text);
        Assert.Single(MigrationLine().Matches(text));
        Assert.Single(TermBegan().Matches(text));
        Assert.DoesNotContain("Activity.DisplayName", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Metric Name", text, StringComparison.Ordinal);
    }

    private SampleInstance Start(string name, params string[] arguments) =>
        SampleInstance.Start(name, Dll, [$"--ConsulLock:InstanceName={name}", "--LeaderJob:Telemetry=false", .. arguments], Environment);

    /// <summary>
    /// Until one of <paramref name="running"/> begins a new term (a "term began" line beyond those recorded); records
    /// it in <paramref name="terms"/> and returns who and which.
    /// </summary>
    private static async Task<(SampleInstance Instance, Term Term)> NextLeaderAsync(List<SampleInstance> running, List<Term> terms, TimeSpan? limit = null)
    {
        using var found = new CancellationTokenSource();
        var waits = running.Select(async instance =>
        {
            var count = terms.Count(t => t.Instance == instance.Name) + 1;
            return (instance, match: await instance.WaitForAsync(TermBegan(), limit ?? TimeSpan.FromSeconds(30), count, found.Token));
        }).ToList();
        var (leader, began) = await await Task.WhenAny(waits);
        await found.CancelAsync();
        await Task.WhenAll(waits).ContinueWith(static _ => { }, TaskScheduler.Default); // the others' waits, ended
        var term = new Term(leader.Name, Token(began), Time(began), DateTimeOffset.MaxValue);
        terms.Add(term);
        return (leader, term);
    }

    /// <summary>Until each of <paramref name="standbys"/> has printed the leader of <paramref name="term"/>: it runs, campaigns and watches.</summary>
    private static async Task UntilStandingByAsync(IEnumerable<SampleInstance> standbys, Term term) =>
        await Task.WhenAll(standbys.Select(s => s.WaitForAsync(LeaderLineOf(term), TimeSpan.FromSeconds(30))));

    private static Regex LeaderLineOf(Term term) => new($"leader: {term.Instance} \\(fencing token {term.Token},");

    private async Task DestroySessionOfTheLeaderAsync()
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent!.Address, "/v1/kv/leader-job-sample/leaders/report-scheduler");
        Assert.Equal(HttpStatusCode.OK, status);
        var session = JsonDocument.Parse(body).RootElement[0].GetProperty("Session").GetString();
        await ConsulHttp.SendAsync(HttpMethod.Put, _agent.Address, "/v1/session/destroy/" + session);
    }

    private static void AssertOneAtATime(List<Term> terms)
    {
        var ordered = terms.OrderBy(t => t.Began).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            Assert.True(ordered[i - 1].Ended <= ordered[i].Began, $"term {ordered[i]} began before {ordered[i - 1]} ended");
            Assert.True(ordered[i - 1].Token < ordered[i].Token, $"the fencing token of {ordered[i]} is not above {ordered[i - 1]}");
        }
    }

    private static ulong Token(Match match) => ulong.Parse(match.Groups["token"].Value, CultureInfo.InvariantCulture);

    private static DateTimeOffset Time(Match match) => DateTimeOffset.Parse(match.Groups["at"].Value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private sealed record Term(string Instance, ulong Token, DateTimeOffset Began, DateTimeOffset Ended);

    [GeneratedRegex("migrating the schema under 'leader-job-sample/schema-migration'")]
    private static partial Regex MigrationLine();

    [GeneratedRegex(@"^(?<at>\S+) term began: this instance leads \(fencing token (?<token>\d+)\)", RegexOptions.Multiline)]
    private static partial Regex TermBegan();

    [GeneratedRegex(@"^(?<at>\S+) term ended \(fencing token (?<token>\d+)\): .*$", RegexOptions.Multiline)]
    private static partial Regex TermEnded();

    [GeneratedRegex(@"building report \d+ \(fencing token \d+\)")]
    private static partial Regex ReportLine();

    [GeneratedRegex(@"^(?<at>\S+) leader: (?<instance>\w+) \(fencing token (?<token>\d+),")]
    private static partial Regex LeaderIs();

    [GeneratedRegex(@"^\S+ leader: none$")]
    private static partial Regex LeaderNone();

    public async Task InitializeAsync() => _agent = await ConsulAgent.StartDevAsync();

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
    }
}
