using ConsulLock.Aop.Testing;
using Microsoft.Extensions.Time.Testing;

namespace ConsulLock.Aop.Tests.Testing;

/// <summary>The in-memory provider's semaphores behave as the real ones where a unit test can tell.</summary>
public sealed class InMemorySemaphoreTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Never_more_than_the_limit_hold_and_every_caller_is_served()
    {
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = "app" });
        var inside = 0;
        var most = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                await using var permit = await provider.AcquireSemaphoreAsync("exports", 3);
                Assert.Equal("app/exports", permit.Key);
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                await Task.Yield();
                Interlocked.Decrement(ref inside);
            }
        }))).WaitAsync(s_generous);

        Assert.InRange(most, 1, 3);
        Assert.Empty(provider.HeldPermits);
    }

    [Fact]
    public async Task A_wait_times_out_on_the_providers_clock_and_another_limit_is_a_conflict()
    {
        var clock = new FakeTimeProvider();
        var provider = new InMemoryConsulLockProvider(clock);
        await using var held = await provider.AcquireSemaphoreAsync("one", 1);
        Assert.Equal(["one"], provider.HeldPermits);

        Assert.Null(await provider.TryAcquireSemaphoreAsync("one", 1, TimeSpan.Zero));
        var waiting = provider.TryAcquireSemaphoreAsync("one", 1, TimeSpan.FromMinutes(5)).AsTask();
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Null(await waiting.WaitAsync(s_generous));

        var conflict = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await provider.AcquireSemaphoreAsync("one", 2));
        Assert.Contains("limit 1", conflict.Message, StringComparison.Ordinal);
        Assert.Contains("limit 2", conflict.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireSemaphoreAsync("one", 0));
    }

    [Fact]
    public async Task Disposing_the_provider_fires_held_tokens_and_ends_waits()
    {
        var provider = new InMemoryConsulLockProvider();
        var held = await provider.AcquireSemaphoreAsync("one", 1);
        var waiting = provider.AcquireSemaphoreAsync("one", 1).AsTask();

        await provider.DisposeAsync();

        Assert.True(held.LostToken.IsCancellationRequested);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(s_generous));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
