using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Issue 18's second acceptance point: connections reset right after connect (an agent or a load balancer in front of
/// it restarting) reach no caller as a raw transport exception, do not cost a held lock, do not stop its loss from
/// being reported afterwards, and leave a provider whose disposal is clean. In the deadline tests' collection, so that
/// it never runs beside their timing rows.
/// </summary>
[Collection(DeadlineCollection.Name)]
public sealed class ConnectionResetTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Resets_reach_no_caller_raw_cost_no_held_lock_and_its_later_loss_is_still_reported_and_disposal_is_clean()
    {
        var unobserved = new List<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> record = (_, e) => { lock (unobserved) { unobserved.Add(e.Exception); } };
        TaskScheduler.UnobservedTaskException += record;
        try
        {
            await RunAsync(unobserved);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= record;
        }
    }

    private async Task RunAsync(List<Exception> unobserved)
    {
        var sessionName = "reset-test " + Guid.NewGuid().ToString("N")[..8];
        await using var proxy = FaultProxy.Start(Agent.Address);
        // The default TTL, 15 s: the first phase spans the renewal due at 7.5 s, and both phases end before a TTL.
        var provider = NewProvider(o => o.SessionName = sessionName, proxy.Address);
        var seen = new List<string>();
        var handle = await provider.AcquireAsync("reset/held");
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => lost.TrySetResult());
        await UntilAsync(() => Task.FromResult(provider.Engine.Watches.IsWatching(handle.Key)), "the held key's watch did not start");

        // Phase 1, 8 s: every connection is reset as soon as it is accepted, the open ones (the watch's, the pools')
        // at once. A timed acquire meanwhile ends at its deadline with a timeout that names Consul.
        var resetAt = Stopwatch.GetTimestamp();
        proxy.ResetEveryConnection();
        var clock = Stopwatch.StartNew();
        var timedOut = await Record.ExceptionAsync(async () => await provider.TryAcquireAsync("reset/other", TimeSpan.FromSeconds(2)));
        output.WriteLine($"TryAcquireAsync(2 s) while every connection is reset: {Describe(timedOut)} after {clock.ElapsedMilliseconds} ms");
        Assert.True(timedOut is ConsulLockTimeoutException { IsConsulFailure: true }, $"expected a timeout naming Consul, got {timedOut}");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(2.5));
        await Task.Delay(TimeSpan.FromSeconds(8) - Stopwatch.GetElapsedTime(resetAt));

        // Phase 2, 3 s: flapping, resets on and off every 300 ms, while acquires and releases of another key go on:
        // each ends with a handle or a ConsulLock exception, whichever phase its requests meet.
        using var flapping = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var flapper = FlapAsync(proxy, flapping.Token);
        var (granted, failures) = (0, new List<Exception>());
        while (!flapping.IsCancellationRequested)
        {
            var failure = await Record.ExceptionAsync(async () =>
            {
                var flap = await provider.TryAcquireAsync("reset/flap", TimeSpan.FromMilliseconds(500));
                if (flap is not null)
                {
                    granted++;
                    await flap.DisposeAsync();
                }
            });
            if (failure is not null)
            {
                failures.Add(failure);
            }
        }

        await flapper;
        proxy.Heal();
        output.WriteLine($"while flapping: {granted} grants; failures: {string.Join(", ", failures.GroupBy(Describe).Select(g => $"{g.Count()} x {g.Key}"))}");
        foreach (var failure in failures)
        {
            Assert.True(failure is ConsulLockException, $"a raw exception reached the caller: {failure}");
        }

        // The held lock rode both phases out (shorter than its TTL, no evidence of loss), and its watch recovered:
        // deleting the key on the agent is reported.
        Assert.False(handle.LostToken.IsCancellationRequested, ((Aop.Engine.LockHandle)handle).LostReason);
        var deleted = Stopwatch.GetTimestamp();
        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + handle.Key);
        await lost.Task.WaitAsync(s_generous);
        output.WriteLine($"loss reported {Stopwatch.GetElapsedTime(deleted).TotalMilliseconds:0} ms after the key was deleted on the agent");
        Assert.Equal("the key was deleted", ((Aop.Engine.LockHandle)handle).LostReason);

        // Disposal: no exception, no session left, nothing held, no unobserved task exception.
        await handle.DisposeAsync();
        await provider.DisposeAsync();
        Assert.Empty(await SessionsNamedAsync(sessionName));
        Assert.Equal(0, await HeldUnderAsync("reset/"));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        lock (unobserved)
        {
            Assert.Empty(unobserved);
        }
    }

    private static async Task FlapAsync(FaultProxy proxy, CancellationToken stop)
    {
        var resetting = false;
        while (!stop.IsCancellationRequested)
        {
            resetting = !resetting;
            if (resetting)
            {
                proxy.ResetEveryConnection();
            }
            else
            {
                proxy.Heal();
            }

            // WhenAny: the end of the flapping ends the pause without an exception.
            await Task.WhenAny(Task.Delay(300, stop));
        }
    }

    private static string Describe(Exception? exception) => exception switch
    {
        null => "no exception",
        ConsulLockTimeoutException timeout => timeout.IsConsulFailure ? "ConsulLockTimeoutException (Consul)" : "ConsulLockTimeoutException (holder)",
        ConsulLockException { InnerException: SocketException or IOException or HttpRequestException } wrapped =>
            $"{wrapped.GetType().Name} around {wrapped.InnerException!.GetType().Name}",
        _ => exception.GetType().Name,
    };

    private async Task<string[]> SessionsNamedAsync(string prefix)
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        return JsonDocument.Parse(body).RootElement.EnumerateArray()
            .Select(s => s.GetProperty("Name").GetString()!)
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .ToArray();
    }

    /// <summary>How many keys under <paramref name="folder"/> (without the prefix) a session holds.</summary>
    private async Task<int> HeldUnderAsync(string folder)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + Prefix + folder + "?recurse");
        return status == System.Net.HttpStatusCode.NotFound
            ? 0
            : JsonDocument.Parse(body).RootElement.EnumerateArray().Count(e => e.TryGetProperty("Session", out var s) && s.GetString() is { Length: > 0 });
    }
}
