using ConsulLock.Aop.Testing;

namespace ConsulLock.Aop.Tests.Testing;

/// <summary>The in-memory provider users may put in their own unit tests: it must behave like the real one.</summary>
public sealed class InMemoryConsulLockProviderTests
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Callers_of_one_key_exclude_each_other_and_lose_no_update()
    {
        var provider = new InMemoryConsulLockProvider();
        var counter = 0;
        var inside = 0;
        var overlaps = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                await using var handle = await provider.AcquireAsync("shared");
                if (Interlocked.Increment(ref inside) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                var seen = counter;
                await Task.Yield();
                counter = seen + 1;
                Interlocked.Decrement(ref inside);
            }
        })));

        Assert.Equal(800, counter);
        Assert.Equal(0, overlaps);
        Assert.Equal(800, provider.GrantCount);
        Assert.Empty(provider.HeldKeys);
    }

    [Fact]
    public async Task Fencing_tokens_strictly_increase_and_the_key_carries_the_prefix()
    {
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = "app/" });
        ulong last = 0;
        for (var i = 0; i < 5; i++)
        {
            await using var handle = await provider.AcquireAsync("job");
            Assert.Equal("app/job", handle.Key);
            Assert.True(handle.FencingToken > last);
            Assert.True(provider.IsHeld("app/job"));
            Assert.Equal(["app/job"], provider.HeldKeys);
            last = handle.FencingToken;
        }

        Assert.False(provider.IsHeld("app/job"));
    }

    [Fact]
    public async Task TryAcquire_times_out_with_null_and_zero_tries_once()
    {
        var provider = new InMemoryConsulLockProvider();
        await using var held = await provider.AcquireAsync("busy");

        // Other flows (an incoming request, say): contention, not reentrancy.
        Assert.Null(await InAnotherFlow(() => provider.TryAcquireAsync("busy", TimeSpan.FromMilliseconds(50))));
        Assert.Null(await InAnotherFlow(() => provider.TryAcquireAsync("busy", TimeSpan.Zero)));
        await using var free = await InAnotherFlow(() => provider.TryAcquireAsync("free", TimeSpan.Zero));
        Assert.NotNull(free);
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_leaves_the_key_to_its_holder()
    {
        var provider = new InMemoryConsulLockProvider();
        var held = await provider.AcquireAsync("busy");
        using var cancel = new CancellationTokenSource();
        var waiting = InAnotherFlow(() => provider.AcquireAsync("busy", cancellationToken: cancel.Token));

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.True(provider.IsHeld("busy"));
        await held.DisposeAsync();
        await using var next = await provider.AcquireAsync("busy").AsTask().WaitAsync(s_generous);
        Assert.NotNull(next);
    }

    [Fact]
    public async Task Lose_fires_the_holders_lost_token_and_frees_the_key()
    {
        var provider = new InMemoryConsulLockProvider();
        var held = await provider.AcquireAsync("job");

        Assert.True(provider.Lose("job"));

        Assert.True(held.LostToken.IsCancellationRequested);
        Assert.False(provider.IsHeld("job"));
        Assert.False(provider.Lose("job"));
        await using var next = await InAnotherFlow(() => provider.TryAcquireAsync("job", TimeSpan.Zero));
        Assert.NotNull(next);
        Assert.True(next.FencingToken > held.FencingToken);
        // The lost holder's late release must not free the new holder's key.
        await held.DisposeAsync();
        Assert.True(provider.IsHeld("job"));
    }

    [Fact]
    public async Task Asking_again_for_a_held_key_in_the_same_flow_fails_at_once()
    {
        var provider = new InMemoryConsulLockProvider();
        await using var held = await provider.AcquireAsync("job");

        // Bounded, so that a regression fails instead of deadlocking the test run.
        await Assert.ThrowsAsync<ConsulLockReentrancyException>(async () => await provider.AcquireAsync("job").AsTask().WaitAsync(s_generous));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/leading")]
    [InlineData("a//b")]
    [InlineData("a/../b")]
    public async Task Invalid_keys_are_refused_as_by_the_real_provider(string key)
    {
        var provider = new InMemoryConsulLockProvider();

        await Assert.ThrowsAsync<ArgumentException>(async () => await provider.AcquireAsync(key));
    }

    [Fact]
    public async Task Out_of_range_requests_and_negative_timeouts_are_refused()
    {
        var provider = new InMemoryConsulLockProvider();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireAsync("k", new ConsulLockRequest { SessionTtl = TimeSpan.FromSeconds(1) }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.TryAcquireAsync("k", TimeSpan.FromSeconds(-2)));
        var options = Assert.Throws<ArgumentException>(() => new InMemoryConsulLockProvider(new ConsulLockOptions { SessionTtl = TimeSpan.FromDays(2) }));
        Assert.Contains("ConsulLockOptions.SessionTtl = 2.00:00:00", options.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_the_provider_makes_held_locks_lost_and_refuses_new_ones()
    {
        var provider = new InMemoryConsulLockProvider();
        var held = await provider.AcquireAsync("job");

        await provider.DisposeAsync();

        Assert.True(held.LostToken.IsCancellationRequested);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await provider.AcquireAsync("other"));
    }

    /// <summary>Starts <paramref name="acquire"/> in a fresh async flow, which does not inherit this flow's held keys.</summary>
    private static Task<T> InAnotherFlow<T>(Func<ValueTask<T>> acquire)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(async () => await acquire());
        }
    }
}
