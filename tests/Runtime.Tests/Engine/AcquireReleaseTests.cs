using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

[Collection(ConsulCollection.Name)]
public sealed class AcquireReleaseTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    [Fact]
    public async Task Acquired_key_carries_the_Go_client_lock_flags_and_the_session_and_release_clears_the_session()
    {
        var provider = NewProvider();
        string sessionId;
        await using (var handle = await provider.AcquireAsync("jobs/a"))
        {
            sessionId = handle.SessionId;
            Assert.Equal(Prefix + "jobs/a", handle.Key);
            var entry = await ReadKeyAsync(Prefix + "jobs/a");
            Assert.NotNull(entry);
            Assert.Equal(0x2ddccbc058a50c18UL, entry.Value.GetProperty("Flags").GetUInt64());
            Assert.Equal(sessionId, entry.Value.GetProperty("Session").GetString());
            Assert.Equal(entry.Value.GetProperty("ModifyIndex").GetUInt64(), handle.FencingToken);
            Assert.False(handle.LostToken.IsCancellationRequested);
        }

        // Released keys do not pile up: the release deleted the key it had created.
        Assert.Null(await ReadKeyAsync(Prefix + "jobs/a"));
    }
}
