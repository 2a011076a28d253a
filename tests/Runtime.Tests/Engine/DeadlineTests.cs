using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// The deadline tests share a dev agent of their own, and run one after another: their bounds are about timing, so
/// they run beside other collections, not beside each other.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DeadlineCollection : ICollectionFixture<ConsulAgentFixture>, ICollectionFixture<ThreadPoolHeadroom>
{
    public const string Name = "deadlines";
}

/// <summary>
/// The deadline bounds are on the engine, not on the test host: vstest and xunit each park a thread-pool thread in a
/// blocking wait, which on 2 cores (a minimum of 2 pool threads) leaves the pool to grow by about one thread per half
/// second while continuations queue. Measured, that added 0.5-1 s to rows run in a cold test process, and nothing
/// once the pool had a few more threads. A service's pool does not start with two of its threads parked.
/// </summary>
public sealed class ThreadPoolHeadroom
{
    public ThreadPoolHeadroom()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 8), completionPorts);
    }
}

/// <summary>
/// Issue 18's acceptance (contract section 4, "Deadlines are kept"): whatever Consul does (hangs, answers after the
/// deadline, resets every connection, answers 500), a caller waits no longer than it asked, by any of the three ways
/// to ask, from a provider with or without a session yet. Each fact is one fault; its rows (caller x provider state)
/// run at once, each with its own proxy, provider and key. Per row: the call returns within
/// [deadline - 0.1 s, deadline + 0.5 s] with the outcome that way of asking promises and no other exception; once the
/// proxy heals, the key is free in Consul (in-flight grants were released in the background) and, after the
/// provider's disposal, no session of its remains. And since nobody holds the key, a timeout names Consul as its
/// cause (<see cref="ConsulLockTimeoutException.IsConsulFailure"/>), never another holder (null, for TryAcquireAsync).
/// </summary>
[Collection(DeadlineCollection.Name)]
public sealed class DeadlineTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_early = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_late = TimeSpan.FromMilliseconds(500);
    // Not timing bounds: how long background work may take to let go once Consul is back.
    private static readonly TimeSpan s_freeWithin = TimeSpan.FromSeconds(10);

    public enum Fault
    {
        /// <summary>Connections accepted, nothing moves (<see cref="FaultProxy.Blackhole"/>).</summary>
        Hung,

        /// <summary>
        /// Requests take effect, every answer comes 2.5 s..4 s late, so that the deadline passes with a request out
        /// (3.2 s..4 s for a warm provider, whose first answer would otherwise grant the lock in time).
        /// </summary>
        Slow,

        /// <summary>Every connection is reset right after it is accepted.</summary>
        Refusing,

        /// <summary>Every request is answered 500 "No cluster leader".</summary>
        Error500,
    }

    public enum Caller
    {
        /// <summary><c>provider.TryAcquireAsync(key, 3 s)</c>: null or <see cref="ConsulLockTimeoutException"/>.</summary>
        TryAcquire,

        /// <summary>A generated <c>[ConsulLocked(WaitTimeout = "3s")]</c> method: <see cref="ConsulLockTimeoutException"/>.</summary>
        WaitTimeout,

        /// <summary><c>provider.AcquireAsync(key, token)</c> with the token cancelled at 2 s: <see cref="OperationCanceledException"/>.</summary>
        Token,
    }

    [Fact]
    public Task Every_wait_ends_at_its_deadline_with_the_promised_outcome_and_leaves_nothing_held_when_Consul_hangs() =>
        RunRowsAsync(Fault.Hung);

    [Fact]
    public Task Every_wait_ends_at_its_deadline_with_the_promised_outcome_and_leaves_nothing_held_when_Consul_answers_after_it() =>
        RunRowsAsync(Fault.Slow);

    [Fact]
    public Task Every_wait_ends_at_its_deadline_with_the_promised_outcome_and_leaves_nothing_held_when_every_connection_is_reset() =>
        RunRowsAsync(Fault.Refusing);

    [Fact]
    public Task Every_wait_ends_at_its_deadline_with_the_promised_outcome_and_leaves_nothing_held_when_Consul_answers_500() =>
        RunRowsAsync(Fault.Error500);

    private async Task RunRowsAsync(Fault fault)
    {
        var clock = Stopwatch.StartNew();
        var rows = await Task.WhenAll(
            from caller in Enum.GetValues<Caller>()
            from warm in new[] { false, true }
            select Task.Run(() => RunRowAsync(fault, caller, warm)));

        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"{"fault",-9} {"caller",-22} {"state",-5} {"elapsed",8} {"over",6}  {"outcome",-34} {"free",7} {"dispose",8}");
        foreach (var row in rows)
        {
            table.AppendLine(row.ToString());
        }

        table.Append(CultureInfo.InvariantCulture, $"{rows.Length} rows in {clock.Elapsed.TotalSeconds:0.0} s; largest overshoot {rows.Max(r => r.Overshoot.TotalMilliseconds):0} ms");
        output.WriteLine(table.ToString());

        var broken = rows.SelectMany(r => r.Problems.Select(p => $"{r.Name}: {p}")).ToArray();
        Assert.True(broken.Length == 0, string.Join(Environment.NewLine, broken));
    }

    private async Task<Row> RunRowAsync(Fault fault, Caller caller, bool warm)
    {
        var row = new Row(fault, caller, warm);
        var name = $"{fault}-{caller}-{(warm ? "warm" : "fresh")}".ToLowerInvariant();
        var sessionName = $"deadline {name} {Guid.NewGuid().ToString("N")[..8]}";
        var key = $"deadlines/{name}";
        await using var proxy = FaultProxy.Start(Agent.Address);
        var provider = NewProvider(o => o.SessionName = sessionName, proxy.Address);
        // Warm: a running service's provider, which holds another lock and so has a live session and open connections.
        var other = warm ? await provider.AcquireAsync($"warm/{name}") : null;

        switch (fault)
        {
            case Fault.Hung:
                proxy.Blackhole();
                break;
            case Fault.Slow:
                // A warm provider locks a free key in one round trip: an answer due before the deadline would grant it.
                proxy.DelayAnswers(TimeSpan.FromSeconds(warm ? 3.2 : 2.5), TimeSpan.FromSeconds(4));
                break;
            case Fault.Refusing:
                proxy.ResetEveryConnection();
                break;
            case Fault.Error500:
                proxy.AnswerWithError("rpc error: No cluster leader");
                break;
        }

        var started = Stopwatch.GetTimestamp();
        IConsulLockHandle? handle = null;
        Exception? thrown = null;
        try
        {
            handle = await CallAsync(provider, caller, name);
        }
#pragma warning disable CA1031 // Whatever the call throws is the row's outcome, checked below.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            thrown = ex;
        }

        row.Elapsed = Stopwatch.GetElapsedTime(started);
        row.Outcome = Describe(handle, thrown, caller);
        proxy.Heal();

        var deadline = caller == Caller.Token ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(3);
        row.Overshoot = row.Elapsed - deadline;
        if (row.Elapsed < deadline - s_early || row.Elapsed > deadline + s_late)
        {
            row.Problems.Add($"returned after {row.Elapsed.TotalMilliseconds:0} ms; promised within [{(deadline - s_early).TotalMilliseconds:0}, {(deadline + s_late).TotalMilliseconds:0}] ms");
        }

        if (!IsPromised(caller, handle, thrown))
        {
            row.Problems.Add($"ended with {row.Outcome}; promised {Promise(caller)}" + (thrown is null ? "" : Environment.NewLine + thrown));
        }
        else if (BlamesAHolder(caller, thrown))
        {
            // Nobody holds the key: null, or a timeout that says another holder kept it, misleads whoever reads it.
            row.Problems.Add($"ended with {row.Outcome}, which blames another holder; none held the key, Consul was failing");
        }

        if (handle is not null)
        {
            await handle.DisposeAsync();
        }

        // In-flight requests finish in the background once Consul is back, and whatever they were granted is released.
        var freeing = Stopwatch.GetTimestamp();
        if (await HeldWithinAsync(Prefix + key, s_freeWithin) is { } holder)
        {
            row.Problems.Add($"the key is still held by session {holder} {s_freeWithin.TotalSeconds:0} s after Consul came back");
        }

        row.FreeAfter = Stopwatch.GetElapsedTime(freeing);
        if (other is not null)
        {
            if (other.LostToken.IsCancellationRequested)
            {
                row.Problems.Add($"the warm lock held meanwhile was reported lost ({((Aop.Engine.LockHandle)other).LostReason}) by a fault shorter than its TTL");
            }

            await other.DisposeAsync();
        }

        var disposing = Stopwatch.GetTimestamp();
        await provider.DisposeAsync();
        row.Disposal = Stopwatch.GetElapsedTime(disposing);
        if (await SessionsNamedAsync(sessionName) is { Length: > 0 } left)
        {
            row.Problems.Add($"sessions left after the provider's disposal: {string.Join(", ", left)}");
        }

        foreach (var mine in warm ? [key, $"warm/{name}"] : new[] { key })
        {
            if (await HeldWithinAsync(Prefix + mine, TimeSpan.Zero) is { } after)
            {
                row.Problems.Add($"'{mine}' is held by session {after} after the provider's disposal");
            }
        }

        return row;
    }

    private static async Task<IConsulLockHandle?> CallAsync(ConsulLockProvider provider, Caller caller, string name)
    {
        var key = $"deadlines/{name}";
        switch (caller)
        {
            case Caller.TryAcquire:
                return await provider.TryAcquireAsync(key, TimeSpan.FromSeconds(3));
            case Caller.WaitTimeout:
                await new LockedJob(provider).RunAsync(name, CancellationToken.None);
                // The body ran: the lock was taken, which a Consul that is failing cannot grant.
                return null;
            default:
                using (var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                {
                    return await provider.AcquireAsync(key, cancellationToken: cancel.Token);
                }
        }
    }

    private static bool IsPromised(Caller caller, IConsulLockHandle? handle, Exception? thrown) => caller switch
    {
        Caller.TryAcquire => handle is null && thrown is null or ConsulLockTimeoutException,
        Caller.WaitTimeout => thrown is ConsulLockTimeoutException,
        _ => thrown is OperationCanceledException,
    };

    private static bool BlamesAHolder(Caller caller, Exception? thrown) =>
        thrown is ConsulLockTimeoutException { IsConsulFailure: false } || (caller == Caller.TryAcquire && thrown is null);

    private static string Promise(Caller caller) => caller switch
    {
        Caller.TryAcquire => "null or ConsulLockTimeoutException",
        Caller.WaitTimeout => "ConsulLockTimeoutException",
        _ => "OperationCanceledException",
    };

    private static string Describe(IConsulLockHandle? handle, Exception? thrown, Caller caller) => (handle, thrown) switch
    {
        (not null, _) => "a handle (the lock was granted)",
        (_, ConsulLockTimeoutException timeout) => timeout.IsConsulFailure ? "ConsulLockTimeoutException (Consul)" : "ConsulLockTimeoutException (holder)",
        (_, not null) => thrown.GetType().Name,
        _ => caller == Caller.WaitTimeout ? "the body ran (the lock was granted)" : "null",
    };

    /// <summary>The session holding <paramref name="key"/>, read from the agent directly, until it is free or <paramref name="within"/> passed.</summary>
    private async Task<string?> HeldWithinAsync(string key, TimeSpan within)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var holder = await ReadKeyAsync(key) is { } entry && entry.TryGetProperty("Session", out var session) ? session.GetString() : null;
            if (holder is null || Stopwatch.GetElapsedTime(started) >= within)
            {
                return holder;
            }

            await Task.Delay(50);
        }
    }

    private async Task<string[]> SessionsNamedAsync(string prefix)
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        return JsonDocument.Parse(body).RootElement.EnumerateArray()
            .Where(s => s.GetProperty("Name").GetString()!.StartsWith(prefix, StringComparison.Ordinal))
            .Select(s => $"{s.GetProperty("ID").GetString()} ({s.GetProperty("Name").GetString()})")
            .ToArray();
    }

    private sealed class Row(Fault fault, Caller caller, bool warm)
    {
        public string Name { get; } = $"{fault} x {Label(caller)} x {(warm ? "warm" : "fresh")}";

        public TimeSpan Elapsed { get; set; }

        public TimeSpan Overshoot { get; set; }

        public string Outcome { get; set; } = "";

        public TimeSpan FreeAfter { get; set; }

        public TimeSpan Disposal { get; set; }

        public List<string> Problems { get; } = [];

        public override string ToString() => string.Create(
            CultureInfo.InvariantCulture,
            $"{fault,-9} {Label(caller),-22} {(warm ? "warm" : "fresh"),-5} {Elapsed.TotalMilliseconds,5:0} ms {Overshoot.TotalMilliseconds,6:+0;-0;0}  {Outcome,-34} {FreeAfter.TotalMilliseconds,4:0} ms {Disposal.TotalMilliseconds,5:0} ms{(Problems.Count > 0 ? "  FAILED" : "")}");

        private static string Label(Caller caller) => caller switch
        {
            Caller.TryAcquire => "TryAcquireAsync(3 s)",
            Caller.WaitTimeout => "WaitTimeout = \"3s\"",
            _ => "token cancelled at 2 s",
        };
    }
}

/// <summary>A user's method that waits at most 3 s for its lock, as the generator builds it.</summary>
internal sealed partial class LockedJob(IConsulLockProvider locks)
{
    [ConsulLocked("deadlines/{row}", WaitTimeout = "3s")]
    public partial Task RunAsync(string row, CancellationToken cancellationToken);

    private Task RunCoreAsync(string row, CancellationToken cancellationToken) => Task.CompletedTask;
}
