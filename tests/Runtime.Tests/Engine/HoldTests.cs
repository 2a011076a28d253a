using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using ConsulLock.Aop.CompilerServices;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Contract section 7 against a real agent and real processes: a minimum hold keeps the key held in Consul until
/// grant + MinHold whatever the holder does (releases early, exits, is killed), and a hold limit ends a hold that
/// runs too long.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class HoldTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(60);

    // The contract: free again within 1 s of grant + MinHold while the holder's process lives.
    private static readonly TimeSpan s_freeWithin = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_key_released_before_its_minimum_hold_stays_held_in_Consul_until_then_and_a_waiter_gets_it_within_a_second_after()
    {
        var minHold = TimeSpan.FromSeconds(3);
        var holder = NewProvider();
        var beforeGrant = Stopwatch.GetTimestamp();
        var handle = await holder.AcquireAsync("jobs/min", new ConsulLockRequest { MinHold = minHold });
        var afterGrant = Stopwatch.GetTimestamp();
        await handle.DisposeAsync();

        // Held in Consul by a session of its own, as an ordinary lock (Consul's own clients see it held), named for operators.
        var holdSession = await HolderAsync(handle.Key);
        Assert.NotNull(holdSession);
        Assert.NotEqual(handle.SessionId, holdSession);
        var name = await SessionNameAsync(holdSession!);
        Assert.Contains($"hold of '{handle.Key}' until", name, StringComparison.Ordinal);

        // Nobody gets it meanwhile: not another process, not the holder's own process.
        var other = NewProvider();
        Assert.Null(await other.TryAcquireAsync("jobs/min", TimeSpan.Zero));
        Assert.Null(await holder.TryAcquireAsync("jobs/min", TimeSpan.Zero));

        // A waiter gets it when the hold ends, not before, and within a second after.
        await using var next = await other.AcquireAsync("jobs/min").AsTask().WaitAsync(s_generous);
        var nextAt = Stopwatch.GetTimestamp();
        output.WriteLine($"next grant {Stopwatch.GetElapsedTime(afterGrant, nextAt).TotalMilliseconds - minHold.TotalMilliseconds:F0} ms after grant + MinHold");
        Assert.True(Stopwatch.GetElapsedTime(beforeGrant, nextAt) >= minHold, "granted again before grant + MinHold");
        Assert.True(Stopwatch.GetElapsedTime(afterGrant, nextAt) < minHold + s_freeWithin, $"granted again {Stopwatch.GetElapsedTime(afterGrant, nextAt)} after the grant");
        Assert.True(next.FencingToken > handle.FencingToken);
        Assert.DoesNotContain(holdSession, await SessionIdsAsync());
    }

    [Fact]
    public async Task The_holders_own_process_waits_for_the_minimum_hold_too()
    {
        var minHold = TimeSpan.FromSeconds(2);
        var provider = NewProvider();
        var beforeGrant = Stopwatch.GetTimestamp();
        var handle = await provider.AcquireAsync("jobs/same-process", new ConsulLockRequest { MinHold = minHold });
        await handle.DisposeAsync();

        await using var again = await provider.AcquireAsync("jobs/same-process").AsTask().WaitAsync(s_generous);
        Assert.True(Stopwatch.GetElapsedTime(beforeGrant) >= minHold, "the same process got the key again before grant + MinHold");
        Assert.True(again.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task Waiters_queued_before_the_release_in_this_process_and_another_get_the_key_only_after_the_hold_and_in_turn()
    {
        var minHold = TimeSpan.FromSeconds(3);
        var holder = NewProvider();
        var other = NewProvider();
        var beforeGrant = Stopwatch.GetTimestamp();
        var handle = await holder.AcquireAsync("jobs/queued", new ConsulLockRequest { MinHold = minHold });
        var afterGrant = Stopwatch.GetTimestamp();
        var remote = other.AcquireAsync("jobs/queued").AsTask();
        await UntilWatchedAsync(other, "jobs/queued");
        Task<IConsulLockHandle> local;
        using (ConsulLocking.SeparateFlow())
        {
            local = holder.AcquireAsync("jobs/queued").AsTask();
        }

        await handle.DisposeAsync();

        var first = await Task.WhenAny(remote, local).WaitAsync(s_generous);
        var firstAt = Stopwatch.GetTimestamp();
        await using (await first)
        {
            Assert.True(Stopwatch.GetElapsedTime(beforeGrant, firstAt) >= minHold, "a waiter got the key before grant + MinHold");
            Assert.True(Stopwatch.GetElapsedTime(afterGrant, firstAt) < minHold + s_freeWithin, $"the first waiter got the key {Stopwatch.GetElapsedTime(afterGrant, firstAt)} after the grant");
            Assert.False((first == remote ? local : remote).IsCompleted, "both waiters hold the key");
        }

        await using var second = await (first == remote ? local : remote).WaitAsync(s_generous);
        Assert.True(second.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task A_key_released_after_its_minimum_hold_is_released_at_once()
    {
        var provider = NewProvider();
        var handle = await provider.AcquireAsync("jobs/long-body", new ConsulLockRequest { MinHold = TimeSpan.FromMilliseconds(300) });
        await Task.Delay(TimeSpan.FromMilliseconds(400)); // the body outlasts the minimum hold
        await handle.DisposeAsync();

        Assert.Null(await ReadKeyAsync(handle.Key));
        Assert.DoesNotContain(await SessionListAsync(), s => s.Name.Contains($"hold of '{handle.Key}'", StringComparison.Ordinal));
    }

    /// <summary>
    /// The holder releases and is then killed with SIGKILL during the hold: nobody gets the key before grant + MinHold,
    /// and Consul frees it by grant + MinHold + 20 s. Below 20 s the hold session has Consul's shortest TTL (10 s) and
    /// ends 20 s after it was made; above, its TTL is half the hold and it ends when the hold does.
    /// </summary>
    [Theory]
    [InlineData(5)]
    [InlineData(24)]
    public async Task A_holder_killed_during_its_minimum_hold_keeps_the_key_held_until_then_and_Consul_frees_it_within_20_s_after(int seconds)
    {
        var minHold = TimeSpan.FromSeconds(seconds);
        var beforeStart = DateTime.UtcNow;
        var holder = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { ContenderPath(), "hold-min", Agent.Address.ToString(), Prefix, "jobs/killed", minHold.ToString("c", CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var held = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            var heldAt = DateTime.UtcNow;
            var released = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            if (held?.StartsWith("held ", StringComparison.Ordinal) != true || released != "released")
            {
                holder.Kill();
                Assert.Fail($"holder said '{held}', '{released}': {await holder.StandardError.ReadToEndAsync()}");
            }

            holder.Kill();
            await holder.WaitForExitAsync();
            var heldToken = ulong.Parse(held!["held ".Length..], CultureInfo.InvariantCulture);

            await using var next = await NewProvider().AcquireAsync("jobs/killed").AsTask().WaitAsync(minHold + s_generous);
            var nextAt = DateTime.UtcNow;
            output.WriteLine($"MinHold {seconds} s: next grant {(nextAt - heldAt - minHold).TotalSeconds:F1} s after grant + MinHold (the contract's worst case: 20 s)");
            Assert.True(next.FencingToken > heldToken);
            // The grant was after the holder process started.
            Assert.True(nextAt - beforeStart >= minHold, $"granted {nextAt - beforeStart} after the holder started, before its MinHold {minHold}");
            // Generous only by the time the 'held' line took to arrive.
            Assert.True(nextAt - heldAt <= minHold + TimeSpan.FromSeconds(21), $"granted {nextAt - heldAt} after the holder's grant, past MinHold + 20 s");
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill(entireProcessTree: true);
            }

            await holder.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_provider_disposed_during_a_minimum_hold_leaves_the_hold_in_place_and_no_other_session(bool bodyEnded)
    {
        var provider = NewProvider();
        var handle = await provider.AcquireAsync("jobs/disposed", new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(30) });
        if (bodyEnded)
        {
            await handle.DisposeAsync();
        }

        await provider.DisposeAsync();

        var holdSession = await HolderAsync(handle.Key);
        Assert.NotNull(holdSession);
        Assert.NotEqual(handle.SessionId, holdSession);
        var holds = (await SessionListAsync()).Where(s => s.Name.Contains($"hold of '{Prefix}", StringComparison.Ordinal)).ToList();
        Assert.Equal([holdSession], holds.Select(s => s.Id));
        Assert.DoesNotContain(handle.SessionId, await SessionIdsAsync());
        Assert.Null(await NewProvider().TryAcquireAsync("jobs/disposed", TimeSpan.Zero));

        // Not left for the other tests on this agent: the hold session's end frees (deletes) the key at once.
        await PutAsync("/v1/session/destroy/" + holdSession);
        await UntilAsync(async () => await ReadKeyAsync(handle.Key) is null, "the hold session's end did not free the key");
    }

    [Fact]
    public async Task A_lock_lost_before_its_release_is_not_held_on()
    {
        var provider = NewProvider();
        var handle = await provider.AcquireAsync("jobs/lost", new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(30) });
        var lost = new TaskCompletionSource();
        handle.LostToken.Register(lost.SetResult);
        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + handle.Key);
        await lost.Task.WaitAsync(s_generous);
        await handle.DisposeAsync();

        await using var next = await NewProvider().TryAcquireAsync("jobs/lost", TimeSpan.FromSeconds(10));
        Assert.NotNull(next);
        Assert.DoesNotContain(await SessionListAsync(), s => s.Name.Contains($"hold of '{handle.Key}'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task When_Consul_fails_at_the_release_the_holders_process_keeps_the_key_until_the_hold_ends()
    {
        var minHold = TimeSpan.FromSeconds(4);
        await using var proxy = FaultProxy.Start(Agent.Address);
        var provider = NewProvider(address: proxy.Address);
        var beforeGrant = Stopwatch.GetTimestamp();
        var handle = await provider.AcquireAsync("jobs/fault", new ConsulLockRequest { MinHold = minHold });
        var afterGrant = Stopwatch.GetTimestamp();

        await proxy.RefuseAsync();
        await handle.DisposeAsync().AsTask().WaitAsync(s_generous);
        Assert.Equal(handle.SessionId, await HolderAsync(handle.Key));
        proxy.Heal();

        await using var next = await NewProvider().AcquireAsync("jobs/fault").AsTask().WaitAsync(s_generous);
        var nextAt = Stopwatch.GetTimestamp();
        output.WriteLine($"next grant {Stopwatch.GetElapsedTime(afterGrant, nextAt).TotalMilliseconds - minHold.TotalMilliseconds:F0} ms after grant + MinHold");
        Assert.True(Stopwatch.GetElapsedTime(beforeGrant, nextAt) >= minHold, "granted again before grant + MinHold");
        Assert.True(Stopwatch.GetElapsedTime(afterGrant, nextAt) < minHold + TimeSpan.FromSeconds(3), "not released soon after the hold ended");
    }

    [Fact]
    public async Task Releasing_into_a_minimum_hold_against_a_slow_Consul_returns_within_one_request_timeout_and_the_hold_still_holds()
    {
        // The hand-over is two requests (the hold session's create, then the transaction); against a Consul that
        // answers each just inside the request timeout, the holder's release must not wait for both.
        var requestTimeout = TimeSpan.FromSeconds(3);
        var minHold = TimeSpan.FromSeconds(12);
        await using var proxy = FaultProxy.Start(Agent.Address);
        var provider = NewProvider(o => o.RequestTimeout = requestTimeout, address: proxy.Address);
        var handle = await provider.AcquireAsync("jobs/slow-release", new ConsulLockRequest { MinHold = minHold });
        var granted = Stopwatch.GetTimestamp();

        proxy.DelayAnswers(requestTimeout * 0.8);
        var releasing = Stopwatch.GetTimestamp();
        await handle.DisposeAsync().AsTask().WaitAsync(s_generous);
        var took = Stopwatch.GetElapsedTime(releasing);
        output.WriteLine($"release took {took.TotalMilliseconds:F0} ms (request timeout {requestTimeout.TotalMilliseconds:F0} ms)");
        Assert.True(took < requestTimeout * 1.5, $"the release took {took}, more than one request timeout ({requestTimeout})");

        // Whatever became of the hand-over, the key stays held until grant + MinHold.
        proxy.Heal();
        Assert.NotNull(await HolderAsync(handle.Key));
        await using var next = await NewProvider().AcquireAsync("jobs/slow-release").AsTask().WaitAsync(s_generous);
        Assert.True(Stopwatch.GetElapsedTime(granted) >= minHold, "granted again before grant + MinHold");
    }

    [Fact]
    public async Task At_its_hold_limit_the_lost_token_fires_with_that_reason_and_another_process_gets_the_key_right_after()
    {
        var maxHold = TimeSpan.FromSeconds(2);
        var beforeGrant = Stopwatch.GetTimestamp();
        var handle = await NewProvider().AcquireAsync("jobs/max", new ConsulLockRequest { MaxHold = maxHold });
        var fired = new TaskCompletionSource<long>();
        handle.LostToken.Register(() => fired.TrySetResult(Stopwatch.GetTimestamp()));
        var waiter = NewProvider();
        var waiting = waiter.AcquireAsync("jobs/max").AsTask();

        // The holder ignores its token (a hung job): the key is released all the same.
        var firedAt = await fired.Task.WaitAsync(s_generous);
        await using var next = await waiting.WaitAsync(s_generous);
        var nextAt = Stopwatch.GetTimestamp();
        output.WriteLine($"token fired {Stopwatch.GetElapsedTime(beforeGrant, firedAt).TotalMilliseconds:F0} ms after the acquire began; next grant {Stopwatch.GetElapsedTime(firedAt, nextAt).TotalMilliseconds:F0} ms later");
        Assert.True(Stopwatch.GetElapsedTime(beforeGrant, firedAt) >= maxHold, "the hold limit fired early");
        Assert.Contains("hold limit", ((ConsulLock.Aop.Engine.LockHandle)handle).LostReason, StringComparison.Ordinal);
        Assert.True(((ConsulLock.Aop.Engine.LockHandle)handle).HoldLimitReached);
        Assert.True(Stopwatch.GetElapsedTime(firedAt, nextAt) < s_freeWithin, $"the next process got the key {Stopwatch.GetElapsedTime(firedAt, nextAt)} after the limit");

        // The hung holder's own release, when it comes at last, does not touch the next holder's lock.
        await handle.DisposeAsync();
        Assert.Equal(next.SessionId, await HolderAsync(next.Key));
    }

    [Fact]
    public async Task A_generated_methods_body_past_its_hold_limit_ends_in_ConsulLockLostException_that_says_so()
    {
        var provider = NewProvider();
        var settings = new LockedMethodSettings(new ConsulLockRequest { MaxHold = TimeSpan.FromSeconds(1) }, waitTimeout: null, LockTimeoutBehavior.Throw);

        var error = await Assert.ThrowsAsync<ConsulLockLostException>(() =>
            LockedMethodRunner.RunAsync(provider, "jobs/runner-max", settings, context => Task.Delay(Timeout.Infinite, context.CancellationToken), CancellationToken.None)
                .WaitAsync(s_generous));

        output.WriteLine(error.Message);
        Assert.True(error.HoldLimitReached);
        Assert.Contains("MaxHold 1s", error.Reason, StringComparison.Ordinal);
        Assert.Contains("hold limit", error.Message, StringComparison.Ordinal);
        Assert.Null(await ReadKeyAsync(Prefix + "jobs/runner-max"));
    }

    [Fact]
    public async Task A_generated_method_whose_hold_limit_began_the_release_returns_only_once_the_key_is_released()
    {
        // The hold limit begins the release before the body ends; a slow Consul keeps that release in flight while the
        // body returns, and the method must not return while its key is still held.
        await using var proxy = FaultProxy.Start(Agent.Address);
        await using var provider = NewProvider(address: proxy.Address); // disposed before the proxy, through a healed one
        var settings = new LockedMethodSettings(new ConsulLockRequest { MaxHold = TimeSpan.FromSeconds(1) }, waitTimeout: null, LockTimeoutBehavior.Throw);

        await Assert.ThrowsAsync<ConsulLockLostException>(() =>
            LockedMethodRunner.RunAsync(provider, "jobs/runner-slow-release", settings, async Task (context) =>
            {
                using var slow = context.LostToken.Register(() => proxy.Delay(TimeSpan.FromMilliseconds(700)));
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
                    throw;
                }
            }, CancellationToken.None).WaitAsync(s_generous));

        Assert.Null(await ReadKeyAsync(Prefix + "jobs/runner-slow-release"));
        proxy.Heal();
    }

    [Theory]
    [InlineData(-1, null, "MinHold")]
    [InlineData(24 * 3600 + 1, null, "MinHold")]
    [InlineData(0, 0.5, "MaxHold")]
    [InlineData(0, 86401.0, "MaxHold")]
    [InlineData(10, 5.0, "MinHold")]
    public async Task Bad_hold_limits_fail_before_any_request(double minHoldSeconds, double? maxHoldSeconds, string named)
    {
        var counting = new CountingHandler();
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address }, loggerFactory: null, counting);
        var request = new ConsulLockRequest
        {
            MinHold = TimeSpan.FromSeconds(minHoldSeconds),
            MaxHold = maxHoldSeconds is { } max ? TimeSpan.FromSeconds(max) : null,
        };

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireAsync("jobs/bad", request));
        output.WriteLine(error.Message);
        Assert.Equal("ConsulLockRequest." + named, error.ParamName);
        Assert.Equal(0L, counting.Requests);
    }

    private static string ContenderPath() => BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender");

    private async Task<string?> HolderAsync(string key) =>
        await ReadKeyAsync(key) is { } entry && entry.TryGetProperty("Session", out var session) ? session.GetString() : null;

    private async Task<string> SessionNameAsync(string id) =>
        (await SessionListAsync()).Single(s => s.Id == id).Name;

    private async Task<List<(string Id, string Name)>> SessionListAsync()
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        Assert.Equal(HttpStatusCode.OK, status);
        return [.. JsonDocument.Parse(body).RootElement.EnumerateArray().Select(s => (s.GetProperty("ID").GetString()!, s.GetProperty("Name").GetString() ?? ""))];
    }
}
