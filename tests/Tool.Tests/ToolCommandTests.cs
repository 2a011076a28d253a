using System.Text.Json;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tool.Tests;

/// <summary>
/// <c>consullock</c> run as a process against a real agent, looking at locks this test holds with the library under
/// known instance names.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class ToolCommandTests(ConsulAgentFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(30);
    private readonly string _prefix = "tool/" + Guid.NewGuid().ToString("N")[..8] + "/";
    private ConsulLockProvider _web1 = null!;
    private ConsulLockProvider _web2 = null!;

    private ConsulAgent Agent => fixture.Agent;

    public Task InitializeAsync()
    {
        _web1 = NewProvider("web-1/101");
        _web2 = NewProvider("web-2/202");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _web1.DisposeAsync();
        await _web2.DisposeAsync();
    }

    [Fact]
    public async Task List_shows_the_held_locks_under_a_prefix_sorted_by_key()
    {
        await using var b = await _web1.AcquireAsync(_prefix + "jobs/b");
        await using var a = await _web2.AcquireAsync(_prefix + "jobs/a");
        await using var outside = await _web1.AcquireAsync(_prefix + "other/c");

        var run = await Consullock.RunAsync(Agent, "list", _prefix + "jobs/");

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.Equal(["KEY", "HOLDER", "SINCE", "TOKEN", "WAITERS"], Columns(lines[0]));
        Assert.StartsWith(_prefix + "jobs/a", lines[1], StringComparison.Ordinal);
        Assert.StartsWith(_prefix + "jobs/b", lines[2], StringComparison.Ordinal);
        var rowA = Columns(lines[1]);
        Assert.Equal("web-2/202", rowA[1]);
        Assert.Equal(a.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture), rowA[^2]);
        Assert.Equal("0", rowA[^1]);
        Assert.Equal("web-1/101", Columns(lines[2])[1]);
        Assert.DoesNotContain("other/c", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_and_show_count_a_process_that_waits_in_the_keys_queue()
    {
        var key = _prefix + "queue/1";
        var held = await _web1.AcquireAsync(key);
        var waiting = _web2.AcquireAsync(key).AsTask();

        // The waiter's queue entry appears when its wait starts; nothing announces it, so the tool is asked until it
        // sees it (a generous deadline, never a fixed sleep).
        var deadline = DateTime.UtcNow + s_generous;
        ToolRun show;
        while (true)
        {
            show = await Consullock.RunAsync(Agent, "show", key, "--json");
            Assert.True(show.ExitCode == 0, show.ToString());
            using var document = JsonDocument.Parse(show.Output);
            if (document.RootElement.GetProperty("waiters").GetInt32() == 1 || DateTime.UtcNow > deadline)
            {
                break;
            }
        }

        var list = await Consullock.RunAsync(Agent, "list", _prefix + "queue/");

        Assert.Contains("\"waiters\":1", show.Output, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal("1", Columns(list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1])[^1]);
        Assert.False(waiting.IsCompleted);
        await held.DisposeAsync();
        await using var next = await waiting.WaitAsync(s_generous);
        var after = await Consullock.RunAsync(Agent, "show", key);
        Assert.Matches(@"(?m)^holder:\s+web-2/202\s*$", after.Output);
        Assert.Matches(@"(?m)^waiters:\s+0\s*$", after.Output);
    }

    [Fact]
    public async Task List_of_a_prefix_nobody_holds_says_so_and_succeeds()
    {
        var run = await Consullock.RunAsync(Agent, "list", _prefix + "nothing/");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Output.Trim());
        Assert.Contains("No lock under", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_prints_the_holder_its_session_and_fencing_token()
    {
        var key = _prefix + "orders/42";
        await using var handle = await _web1.AcquireAsync(key);

        var run = await Consullock.RunAsync(Agent, "show", key);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches($@"(?m)^key:\s+{System.Text.RegularExpressions.Regex.Escape(key)}\s*$", run.Output);
        Assert.Matches(@"(?m)^holder:\s+web-1/101\s*$", run.Output);
        Assert.Matches($@"(?m)^session:\s+{handle.SessionId}\s*$", run.Output);
        Assert.Matches($@"(?m)^fencing token:\s+{handle.FencingToken}\s*$", run.Output);
        Assert.Matches(@"(?m)^since:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(.+ ago\)\s*$", run.Output);
        Assert.Matches(@"(?m)^waiters:\s+0\s*$", run.Output);
    }

    [Fact]
    public async Task Show_of_a_key_nobody_holds_exits_1()
    {
        var key = _prefix + "orders/missing";
        var run = await Consullock.RunAsync(Agent, "show", key);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"nobody holds '{key}'", run.Error, StringComparison.Ordinal);
        Assert.Equal("", run.Output);

        // A key that holds plain data (no session) is held by nobody either.
        var data = _prefix + "orders/data";
        var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/kv/" + data, "{\"not\":\"a lock\"}");
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        var plain = await Consullock.RunAsync(Agent, "show", data);
        Assert.True(plain.ExitCode == 1, plain.ToString());
    }

    [Fact]
    public async Task Show_of_a_released_key_exits_1()
    {
        var key = _prefix + "orders/released";
        var handle = await _web1.AcquireAsync(key);
        await handle.DisposeAsync();

        var run = await Consullock.RunAsync(Agent, "show", key);

        Assert.True(run.ExitCode == 1, run.ToString());
    }

    [Fact]
    public async Task Json_output_of_list_and_show_parses_and_carries_the_holder()
    {
        var key = _prefix + "json/1";
        await using var handle = await _web2.AcquireAsync(key);
        await using var other = await _web1.AcquireAsync(_prefix + "json/2");

        var show = await Consullock.RunAsync(Agent, "show", key, "--json");
        var list = await Consullock.RunAsync(Agent, "--json", "list", _prefix + "json/");

        Assert.True(show.ExitCode == 0, show.ToString());
        using (var document = JsonDocument.Parse(show.Output))
        {
            var holder = document.RootElement;
            Assert.Equal(key, holder.GetProperty("key").GetString());
            Assert.Equal("web-2/202", holder.GetProperty("instance").GetString());
            Assert.Equal(handle.SessionId, holder.GetProperty("session").GetString());
            Assert.Equal(handle.FencingToken, holder.GetProperty("fencingToken").GetUInt64());
            Assert.Equal(0, holder.GetProperty("waiters").GetInt32());
            var acquired = holder.GetProperty("acquired").GetDateTimeOffset();
            Assert.InRange(acquired, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        }

        Assert.True(list.ExitCode == 0, list.ToString());
        using (var document = JsonDocument.Parse(list.Output))
        {
            var keys = document.RootElement.EnumerateArray().Select(h => h.GetProperty("key").GetString()).ToList();
            Assert.Equal([key, _prefix + "json/2"], keys);
            Assert.Equal("web-1/101", document.RootElement[1].GetProperty("instance").GetString());
        }
    }

    [Fact]
    public async Task Release_with_force_destroys_the_holders_session_its_lost_tokens_fire_and_the_key_is_free()
    {
        var key = _prefix + "stuck/1";
        var handle = await _web1.AcquireAsync(key);
        // Another key of the same process: it shares the session, so the release takes it too, as the tool says.
        var sibling = await _web1.AcquireAsync(_prefix + "stuck/2");
        Assert.Equal(handle.SessionId, sibling.SessionId);
        var lost = Fired(handle.LostToken);
        var siblingLost = Fired(sibling.LostToken);

        var run = await Consullock.RunAsync(Agent, "release", key, "--force");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"Destroyed session {handle.SessionId} of web-1/101", run.Output, StringComparison.Ordinal);
        Assert.Contains("LostToken fires as soon as it sees its session gone", run.Output, StringComparison.Ordinal);
        Assert.Contains("Every other key held by that session is released too", run.Output, StringComparison.Ordinal);
        Assert.Contains("the session's lock-delay of 15s", run.Output, StringComparison.Ordinal);
        await lost.WaitAsync(s_generous);
        await siblingLost.WaitAsync(s_generous);
        var show = await Consullock.RunAsync(Agent, "show", key);
        Assert.True(show.ExitCode == 1, show.ToString());
        await handle.DisposeAsync();
        await sibling.DisposeAsync();
    }

    [Fact]
    public async Task Release_without_force_is_a_usage_error_that_explains_and_leaves_the_holder_alone()
    {
        var key = _prefix + "stuck/3";
        await using var handle = await _web1.AcquireAsync(key);

        var run = await Consullock.RunAsync(Agent, "release", key);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("--force", run.Error, StringComparison.Ordinal);
        Assert.Contains("LostToken fires", run.Error, StringComparison.Ordinal);
        Assert.Contains("lock-delay", run.Error, StringComparison.Ordinal);
        var show = await Consullock.RunAsync(Agent, "show", key);
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.False(handle.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task Release_of_a_key_nobody_holds_exits_1()
    {
        var run = await Consullock.RunAsync(Agent, "release", _prefix + "stuck/none", "--force");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("nobody holds", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_where_no_Consul_answers_exits_3_with_a_message_naming_the_address()
    {
        var address = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";

        var list = await Consullock.RunAsync(["list", "--address", address], ("CONSUL_HTTP_ADDR", null));
        var show = await Consullock.RunAsync(["show", "a/b"], ("CONSUL_HTTP_ADDR", address));
        var watch = await Consullock.RunAsync(["watch", "a/b", "--address", address]);

        Assert.True(list.ExitCode == 3, list.ToString());
        Assert.Contains(address, list.Error, StringComparison.Ordinal);
        Assert.True(show.ExitCode == 3, show.ToString());
        Assert.Contains(address, show.Error, StringComparison.Ordinal);
        Assert.True(watch.ExitCode == 3, watch.ToString());
        Assert.Contains(address, watch.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("list", "--address", "ftp://127.0.0.1:8500")]
    [InlineData("show", "a//b")]
    [InlineData("show")]
    [InlineData("frobnicate")]
    [InlineData("list", "--no-such-option")]
    public async Task Bad_command_lines_exit_2_before_any_network_call(params string[] arguments)
    {
        // The address is a port nobody listens on: had the tool called out, it would have exited 3.
        var run = await Consullock.RunAsync(arguments, ("CONSUL_HTTP_ADDR", $"127.0.0.1:{FreePorts.Take(1)[0]}"));

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.StartsWith("consullock: ", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_prints_the_holder_then_a_line_per_change_until_interrupted()
    {
        var key = _prefix + "watched/1";
        using var watch = Consullock.Start(["watch", key], ("CONSUL_HTTP_ADDR", Agent.Address.ToString()));
        try
        {
            Assert.EndsWith($" {key} free", await NextLineAsync(watch));

            var handle = await _web1.AcquireAsync(key);
            Assert.Contains($" {key} held by web-1/101 (session {handle.SessionId}, fencing token {handle.FencingToken}", await NextLineAsync(watch));

            await handle.DisposeAsync();
            Assert.EndsWith($" {key} free", await NextLineAsync(watch));

            await using var next = await _web2.AcquireAsync(key);
            Assert.Contains($" {key} held by web-2/202", await NextLineAsync(watch));

            await Consullock.InterruptAsync(watch);
            await Consullock.WaitForExitAsync(watch, s_generous);
            Assert.Equal(0, watch.ExitCode);
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task A_watch_started_with_SIGINT_ignored_inherits_the_ignore_and_ends_on_SIGTERM_with_exit_0()
    {
        // Why a test run started with SIGINT ignored failed the Ctrl+C test: a script's background job ignores SIGINT,
        // its children inherit that, and .NET leaves an inherited ignored SIGINT ignored, so the tool's handler never
        // runs. SIGTERM ends such a watch as cleanly (the README says so); the Ctrl+C test gets SIGINT at its default.
        var key = _prefix + "watched/3";
        using var watch = Consullock.Start(["watch", key], SigInt.Ignored, ("CONSUL_HTTP_ADDR", Agent.Address.ToString()));
        try
        {
            Assert.EndsWith($" {key} free", await NextLineAsync(watch));
            Assert.True(Consullock.IgnoresSigInt(watch.Id), "the tool was to be started with SIGINT ignored");

            await Consullock.TerminateAsync(watch);
            await Consullock.WaitForExitAsync(watch, s_generous);
            Assert.Equal(0, watch.ExitCode);
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Watch_with_json_writes_one_object_per_change()
    {
        var key = _prefix + "watched/2";
        using var watch = Consullock.Start(["watch", key, "--json"], ("CONSUL_HTTP_ADDR", Agent.Address.ToString()));
        try
        {
            using (var first = JsonDocument.Parse(await NextLineAsync(watch)))
            {
                Assert.Equal(key, first.RootElement.GetProperty("key").GetString());
                Assert.Equal(JsonValueKind.Null, first.RootElement.GetProperty("holder").ValueKind);
            }

            await using var handle = await _web2.AcquireAsync(key);
            using var second = JsonDocument.Parse(await NextLineAsync(watch));
            Assert.Equal("web-2/202", second.RootElement.GetProperty("holder").GetProperty("instance").GetString());
            Assert.Equal(handle.FencingToken, second.RootElement.GetProperty("holder").GetProperty("fencingToken").GetUInt64());
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task A_key_held_by_consul_lock_is_shown_by_its_session_name_and_released_by_force()
    {
        // Consul's Go client (consul lock) writes no holder document: the tool names it by its session's name.
        var goPrefix = _prefix + "go";
        var key = goPrefix + "/.lock";
        // The test run's id in its command line lets eng/test.sh sweep it up if this test dies before its finally.
        var sessionName = $"go-holder-{Environment.GetEnvironmentVariable("CONSULLOCK_TEST_RUN_ID") ?? "clt-local"}-{Guid.NewGuid().ToString("N")[..6]}";
        using var watch = Consullock.Start(["watch", key], ("CONSUL_HTTP_ADDR", Agent.Address.ToString()));
        var start = new System.Diagnostics.ProcessStartInfo(ConsulBinary.Path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["lock", "-http-addr=" + Agent.Address.GetLeftPart(UriPartial.Authority), "-name=" + sessionName, goPrefix, "sleep 300"])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SHELL"] = "/bin/sh";
        using var go = System.Diagnostics.Process.Start(start)!;
        try
        {
            // The watch and consul lock start together: the first line is "free" or already the Go client.
            var line = await NextLineAsync(watch);
            if (line.EndsWith($" {key} free", StringComparison.Ordinal))
            {
                line = await NextLineAsync(watch);
            }

            Assert.Contains($" {key} held by {sessionName} ", line);

            var show = await Consullock.RunAsync(Agent, "show", key, "--json");
            Assert.True(show.ExitCode == 0, show.ToString());
            using (var document = JsonDocument.Parse(show.Output))
            {
                Assert.Equal(sessionName, document.RootElement.GetProperty("instance").GetString());
                Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("acquired").ValueKind);
                Assert.False(string.IsNullOrEmpty(document.RootElement.GetProperty("node").GetString()));
            }

            var release = await Consullock.RunAsync(Agent, "release", key, "--force");
            Assert.True(release.ExitCode == 0, release.ToString());
            Assert.Contains($"of {sessionName} on node ", release.Output, StringComparison.Ordinal);
            Assert.Contains("Go client holder's lost channel closes", release.Output, StringComparison.Ordinal);
            Assert.EndsWith($" {key} free", await NextLineAsync(watch));
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
            go.Kill(entireProcessTree: true);
        }
    }

    private ConsulLockProvider NewProvider(string instance) =>
        new(new ConsulLockOptions { Address = Agent.Address, InstanceName = instance, Token = null });

    private static string[] Columns(string line) => line.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<string> NextLineAsync(System.Diagnostics.Process process)
    {
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(s_generous);
        return line ?? throw new InvalidOperationException("consullock watch ended: " + await process.StandardError.ReadToEndAsync());
    }

    private static Task Fired(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task;
    }
}
