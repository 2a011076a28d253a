using System.Diagnostics;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// The lost-token fires for every way a lock can be lost. Each test reports the delay from the event to the token
/// (the figures in docs/performance.md); the asserted bounds are generous on purpose: they prove it fires at all.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class LostTokenTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Fires_when_someone_else_destroys_the_session()
    {
        await using var handle = await NewProvider().AcquireAsync("lost/destroyed");

        var delay = await MeasureAsync(handle, () => PutAsync("/v1/session/destroy/" + handle.SessionId), s_generous);

        output.WriteLine($"lost-token after session destroy: {delay.TotalMilliseconds:0.0} ms");
    }

    [Theory]
    [InlineData(SessionBehavior.Release)]
    [InlineData(SessionBehavior.Delete)]
    public async Task A_session_destroyed_through_Consuls_API_is_reported_as_the_session_gone_not_as_a_change_of_the_key(SessionBehavior behavior)
    {
        // Consul's destroy releases (with the Delete behaviour: deletes) the session's keys, and the key's watch sees
        // that long before a renewal would learn that the session is gone. The reason the caller gets is the evidence.
        await using var handle = await NewProvider().AcquireAsync("lost/reason-" + behavior, new ConsulLockRequest { Behavior = behavior });

        await MeasureAsync(handle, () => PutAsync("/v1/session/destroy/" + handle.SessionId), s_generous);

        var reason = ((ConsulLock.Aop.Engine.LockHandle)handle).LostReason;
        output.WriteLine($"{behavior}: {reason}");
        Assert.Contains("no longer knows the session", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_released_by_someone_else_while_the_session_lives_is_reported_as_that()
    {
        await using var handle = await NewProvider().AcquireAsync("lost/reason-released");

        await MeasureAsync(handle, () => PutAsync($"/v1/kv/{handle.Key}?release={handle.SessionId}&flags={0x2ddccbc058a50c18UL}"), s_generous);

        var reason = ((ConsulLock.Aop.Engine.LockHandle)handle).LostReason;
        Assert.Contains("released by someone else", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("no longer knows the session", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fires_when_the_key_is_deleted()
    {
        await using var handle = await NewProvider().AcquireAsync("lost/deleted");

        var delay = await MeasureAsync(handle, () => ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + handle.Key), s_generous);

        output.WriteLine($"lost-token after key delete: {delay.TotalMilliseconds:0.0} ms");
    }

    [Fact]
    public async Task Fires_when_the_key_is_released_by_someone_else_and_taken()
    {
        await using var handle = await NewProvider().AcquireAsync("lost/taken");
        var (_, created) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/session/create", "{\"TTL\":\"30s\",\"LockDelay\":\"0s\",\"Checks\":[]}");
        var intruder = JsonDocument.Parse(created).RootElement.GetProperty("ID").GetString();

        var delay = await MeasureAsync(handle, async () =>
        {
            await PutAsync($"/v1/kv/{handle.Key}?release={handle.SessionId}&flags={0x2ddccbc058a50c18UL}");
            await PutAsync($"/v1/kv/{handle.Key}?acquire={intruder}&flags={0x2ddccbc058a50c18UL}");
        }, s_generous);

        output.WriteLine($"lost-token after release by another + take-over: {delay.TotalMilliseconds:0.0} ms");
        var entry = await ReadKeyAsync(handle.Key);
        Assert.Equal(intruder, entry!.Value.GetProperty("Session").GetString());
        await PutAsync("/v1/session/destroy/" + intruder);
    }

    [Fact]
    public async Task Fires_one_TTL_after_the_last_acknowledged_renewal_when_Consul_stops_answering()
    {
        var ttl = TimeSpan.FromSeconds(10);
        await using var proxy = FaultProxy.Start(Agent.Address);
        await using var handle = await NewProvider(o => o.SessionTtl = ttl, proxy.Address).AcquireAsync("lost/silent");

        var delay = await MeasureAsync(handle, () => { proxy.Blackhole(); return Task.CompletedTask; }, ttl + s_generous);

        output.WriteLine($"lost-token after Consul went silent (TTL {ttl.TotalSeconds} s, renewal at TTL/2): {delay.TotalMilliseconds:0} ms");
        // The holder gives up no later than one TTL after its last acknowledged renewal, which was at most TTL/2
        // before the pause, and never before TTL/2 of silence.
        Assert.InRange(delay, ttl / 2 - TimeSpan.FromMilliseconds(100), ttl + TimeSpan.FromSeconds(1));
        proxy.Heal();
    }

    [Fact]
    public async Task A_silence_shorter_than_the_TTL_is_ridden_out_and_the_lock_is_kept()
    {
        var ttl = TimeSpan.FromSeconds(10);
        await using var proxy = FaultProxy.Start(Agent.Address);
        var handle = await NewProvider(o => o.SessionTtl = ttl, proxy.Address).AcquireAsync("lost/brief-silence");
        var granted = Stopwatch.GetTimestamp();

        // The scenario is time passing: Consul goes silent from 4 s to 7 s, across the renewal due at 5 s (TTL/2).
        await Task.Delay(TimeSpan.FromSeconds(4));
        proxy.Blackhole();
        await Task.Delay(TimeSpan.FromSeconds(3));
        proxy.Heal();

        // Past the first TTL: had the renewal sent during the silence not counted once answered, the lock would be lost.
        var pastFirstTtl = ttl + TimeSpan.FromSeconds(1) - Stopwatch.GetElapsedTime(granted);
        if (pastFirstTtl > TimeSpan.Zero)
        {
            await Task.Delay(pastFirstTtl);
        }

        Assert.False(handle.LostToken.IsCancellationRequested, ((ConsulLock.Aop.Engine.LockHandle)handle).LostReason);
        Assert.Equal(handle.SessionId, (await ReadKeyAsync(handle.Key))!.Value.GetProperty("Session").GetString());
        await handle.DisposeAsync();
        Assert.Null(await ReadKeyAsync(handle.Key));
    }

    private static async Task<TimeSpan> MeasureAsync(IConsulLockHandle handle, Func<Task> loseIt, TimeSpan bound)
    {
        var fired = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = handle.LostToken.Register(() => fired.TrySetResult(Stopwatch.GetTimestamp()));
        Assert.False(handle.LostToken.IsCancellationRequested);

        var started = Stopwatch.GetTimestamp();
        await loseIt();
        var firedAt = await fired.Task.WaitAsync(bound);
        return Stopwatch.GetElapsedTime(started, firedAt);
    }
}
