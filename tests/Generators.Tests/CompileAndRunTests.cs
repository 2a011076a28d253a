using System.Net;
using System.Text.Json;
using ConsulLock.Aop.Generators.Tests.Examples;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>The generated code of the mission's example (Examples/), run against a real Consul agent.</summary>
[Collection(ConsulCollection.Name)]
public sealed class CompileAndRunTests(ConsulAgentFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(20);
    private readonly string _prefix = "generated/" + Guid.NewGuid().ToString("N")[..12] + "/";
    private readonly List<ConsulLockProvider> _providers = [];

    [Fact]
    public async Task Calls_with_the_same_id_run_one_after_the_other()
    {
        var inside = 0;
        var most = 0;
        var ran = 0;
        async Task Work(string id, ConsulLockContext context, CancellationToken cancellationToken)
        {
            InterlockedMax(ref most, Interlocked.Increment(ref inside));
            await Task.Delay(5, cancellationToken); // simulated work, long enough for an overlap to show
            Interlocked.Increment(ref ran);
            Interlocked.Decrement(ref inside);
        }

        // Two receivers on two providers, as two instances of a service would have; both run the same generated code.
        var receiver = new WebhookReceiver(NewProvider(), Work);
        var other = new WebhookReceiver(NewProvider(), Work);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? receiver : other).HandleAsync(42, CancellationToken.None)));
        Assert.Equal(20, ran);
        Assert.Equal(1, most);
    }

    [Fact]
    public async Task A_scheduled_job_firing_on_three_instances_up_to_a_second_apart_runs_once_for_its_minimum_hold()
    {
        var ran = 0;
        var instances = Enumerable.Range(0, 3).Select(_ => new ScheduledJob(NewProvider(), _ =>
        {
            Interlocked.Increment(ref ran);
            return Task.Delay(100, CancellationToken.None); // a job far shorter than the timers' skew
        })).ToList();
        var day = new DateOnly(2026, 12, 3);

        // The timers fire 0, 0.5 and 1 s apart: each instance runs or skips, and only one runs.
        for (var i = 0; i < instances.Count; i++)
        {
            await instances[i].RunAsync(day, CancellationToken.None).WaitAsync(s_generous);
            await Task.Delay(500);
        }

        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task Two_instances_call_a_skipping_Task_of_bool_job_at_once_and_exactly_one_gets_true()
    {
        // The winner's body runs until the other call has returned, so the loser cannot find the key free after it.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ran = 0;
        async Task Work(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref ran);
            await release.Task.WaitAsync(s_generous, cancellationToken);
        }

        var instances = new[] { new ScheduledJob(NewProvider(), Work), new ScheduledJob(NewProvider(), Work) };
        var day = new DateOnly(2026, 12, 3);
        var calls = instances.Select(job => job.TryRunAsync(day, CancellationToken.None)).ToArray();

        var first = await await Task.WhenAny(calls).WaitAsync(s_generous);
        Assert.False(first); // the skip returns at once, while the winner still works
        release.SetResult();
        var results = await Task.WhenAll(calls).WaitAsync(s_generous);

        Assert.Equal([false, true], results.Order());
        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task A_locked_method_that_implements_an_interface_member_runs_under_its_lock_when_called_through_the_interface()
    {
        var ran = new List<string>();
        Task Work(string name, CancellationToken cancellationToken)
        {
            lock (ran)
            {
                ran.Add(name);
            }

            return Task.CompletedTask;
        }

        // Quartz calls IJob.Execute on every instance; the key comes from the job's name, a path through the context.
        IJobLike[] instances = [new LockedJobLike(NewProvider(), Work), new LockedJobLike(NewProvider(), Work)];
        var context = new JobContext(new JobDetailLike(new JobKeyLike("report", "nightly")));
        foreach (var instance in instances)
        {
            await instance.Execute(context).WaitAsync(s_generous);
        }

        Assert.Equal(["report"], ran);
    }

    [Fact]
    public async Task A_hung_job_past_its_MaxHold_ends_in_ConsulLockLostException_saying_so_and_frees_the_key()
    {
        var job = new ScheduledJob(NewProvider(), cancellationToken => Task.Delay(Timeout.Infinite, cancellationToken));

        var error = await Assert.ThrowsAsync<ConsulLockLostException>(() => job.RunHungAsync(new DateOnly(2026, 12, 3), CancellationToken.None).WaitAsync(s_generous));

        Assert.True(error.HoldLimitReached, error.Message);
        Assert.Contains("MaxHold 1s", error.Message, StringComparison.Ordinal);
        await using var next = await NewProvider().TryAcquireAsync("jobs/hung/2026-12-03", TimeSpan.FromSeconds(5));
        Assert.NotNull(next);
    }

    [Fact]
    public async Task Calls_with_different_ids_overlap()
    {
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receiver = new WebhookReceiver(NewProvider(), async (id, _, cancellationToken) =>
        {
            // Each body waits until the other has started: this only completes if both hold their locks at once.
            (id == "1" ? first : second).SetResult();
            await (id == "1" ? second : first).Task.WaitAsync(s_generous, cancellationToken);
        });

        await Task.WhenAll(receiver.HandleAsync(1, CancellationToken.None), receiver.HandleAsync(2, CancellationToken.None)).WaitAsync(s_generous);
    }

    [Fact]
    public async Task Destroying_the_session_mid_body_cancels_the_body_and_the_caller_gets_ConsulLockLostException()
    {
        var entered = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodyCancelled = false;
        var receiver = new WebhookReceiver(NewProvider(), async (_, context, cancellationToken) =>
        {
            entered.SetResult(context.SessionId);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                bodyCancelled = true;
                throw;
            }
        });

        var call = receiver.HandleAsync(7, CancellationToken.None);
        var session = await entered.Task.WaitAsync(s_generous);
        var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Put, fixture.Agent.Address, "/v1/session/destroy/" + session);
        Assert.Equal(HttpStatusCode.OK, status);

        var lost = await Assert.ThrowsAsync<ConsulLockLostException>(() => call.WaitAsync(s_generous));
        Assert.True(bodyCancelled);
        Assert.Equal(_prefix + "webhook_receiver/7", lost.Key);
        // The message says why: the key released by someone else, or the session gone, whichever was seen first.
        Assert.Matches("was lost while the work under it ran: .+", lost.Message);
    }

    [Fact]
    public async Task The_key_in_Consul_is_exactly_the_escaped_template()
    {
        var held = new List<string>();
        var receiver = new WebhookReceiver(NewProvider(), async (_, context, cancellationToken) =>
        {
            held.AddRange(await HeldKeysAsync(cancellationToken));
        });

        await receiver.HandleAsync(42, CancellationToken.None);
        Assert.Equal([_prefix + "webhook_receiver/42"], held);

        held.Clear();
        var key = await receiver.HandleNamedAsync("a/b", CancellationToken.None);
        Assert.Equal(_prefix + "webhook_receiver/a%2Fb", key);
        Assert.Equal([_prefix + "webhook_receiver/a%2Fb"], held);

        held.Clear();
        await receiver.HandleNamedAsync("..", CancellationToken.None);
        Assert.Equal([_prefix + "webhook_receiver/%2E%2E"], held);
    }

    [Fact]
    public async Task A_null_placeholder_fails_before_any_network_call_naming_the_parameter()
    {
        var receiver = new WebhookReceiver(NewProvider(), (_, _, _) => Task.CompletedTask);
        var error = await Assert.ThrowsAsync<ArgumentNullException>(() => receiver.HandleNamedAsync(null!, CancellationToken.None));
        Assert.Equal("id", error.ParamName);
        Assert.Empty(await HeldKeysAsync(CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, (await ConsulHttp.SendAsync(HttpMethod.Get, fixture.Agent.Address, $"/v1/kv/{_prefix}?recurse")).Status);
    }

    [Fact]
    public async Task A_semaphore_method_on_three_instances_runs_at_most_2_bodies_at_once_and_skips_when_full()
    {
        var inside = 0;
        var most = 0;
        var ran = 0;
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Work(ConsulLockContext permit, CancellationToken cancellationToken)
        {
            InterlockedMax(ref most, Interlocked.Increment(ref inside));
            await Task.Delay(10, cancellationToken); // long enough for a third body to show
            Interlocked.Increment(ref ran);
            Interlocked.Decrement(ref inside);
        }

        var jobs = Enumerable.Range(0, 3).Select(_ => new ExportJob(NewProvider(), Work)).ToArray();
        var keys = await Task.WhenAll(Enumerable.Range(0, 18).Select(i => jobs[i % 3].ExportAsync("acme", CancellationToken.None))).WaitAsync(s_generous);

        Assert.Equal(18, ran);
        Assert.InRange(most, 1, 2);
        Assert.All(keys, key => Assert.Equal(_prefix + "exports/acme", key));

        // Two bodies hold on; a third instance trying once is skipped (false), its body never runs.
        var blocking = new ExportJob(NewProvider(), async (_, ct) =>
        {
            if (Interlocked.Increment(ref inside) == 2)
            {
                holding.TrySetResult();
            }

            await letGo.Task.WaitAsync(s_generous, ct);
        });
        var held = new[] { blocking.ExportAsync("acme", CancellationToken.None), blocking.ExportAsync("acme", CancellationToken.None) };
        await holding.Task.WaitAsync(s_generous);
        Assert.False(await jobs[0].TryExportAsync("acme", CancellationToken.None).WaitAsync(s_generous));
        letGo.SetResult();
        await Task.WhenAll(held).WaitAsync(s_generous);
        Assert.True(await jobs[1].TryExportAsync("acme", CancellationToken.None).WaitAsync(s_generous));
        Assert.Equal(18 + 1, ran);
        Assert.Empty(await HeldKeysAsync(CancellationToken.None));
    }

    /// <summary>The keys under this test's prefix that a session holds right now, as Consul stores them.</summary>
    private async Task<string[]> HeldKeysAsync(CancellationToken cancellationToken)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, fixture.Agent.Address, $"/v1/kv/{_prefix}?recurse", cancellationToken: cancellationToken);
        return status == HttpStatusCode.NotFound
            ? []
            : [.. JsonDocument.Parse(body).RootElement.EnumerateArray()
                .Where(entry => entry.TryGetProperty("Session", out var session) && session.ValueKind == JsonValueKind.String)
                .Select(entry => entry.GetProperty("Key").GetString()!)];
    }

    private ConsulLockProvider NewProvider()
    {
        var provider = new ConsulLockProvider(new ConsulLockOptions { Address = fixture.Agent.Address, KeyPrefix = _prefix, LockDelay = TimeSpan.Zero, Token = null });
        _providers.Add(provider);
        return provider;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
    }

    private sealed record JobContext(JobDetailLike JobDetail) : IJobContextLike
    {
        public CancellationToken CancellationToken => CancellationToken.None;
    }
}
