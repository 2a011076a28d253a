using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class ConflictTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task A_key_holding_plain_data_gives_a_conflict_and_is_left_untouched()
    {
        await PutAsync("/v1/kv/" + Prefix + "config", "important");
        var provider = NewProvider();

        var error = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await provider.AcquireAsync("config"));

        Assert.Equal(Prefix + "config", error.Key);
        Assert.Contains("holds other data", error.Message, StringComparison.Ordinal);
        var entry = await ReadKeyAsync(Prefix + "config");
        Assert.Equal(0UL, entry!.Value.GetProperty("Flags").GetUInt64());
        Assert.Equal("aW1wb3J0YW50", entry.Value.GetProperty("Value").GetString()); // base64 "important"
        Assert.False(entry.Value.TryGetProperty("Session", out _));
    }

    [Fact]
    public async Task A_semaphore_key_gives_a_conflict_that_says_so()
    {
        await PutAsync("/v1/kv/" + Prefix + "sema?flags=" + 0xe0f69a2baa414de0UL, "{}");
        var provider = NewProvider();

        var error = await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await provider.TryAcquireAsync("sema", TimeSpan.Zero));

        Assert.Contains("semaphore", error.Message, StringComparison.Ordinal);
    }
}
