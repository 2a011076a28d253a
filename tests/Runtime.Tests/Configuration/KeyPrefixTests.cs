using ConsulLock.Aop.CompilerServices;
using ConsulLock.Aop.Testing;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Configuration;

/// <summary>
/// <see cref="ConsulLockOptions.KeyPrefix"/> is a folder: joined to the key with one '/', whether or not it ends
/// with one. Every API and message speaks of the full key (prefix included, as stored in Consul), the real provider
/// and the in-memory one alike.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class KeyPrefixTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    public static TheoryData<string, string> Folders => new()
    {
        { "newcomer", "newcomer/" },
        { "locks/", "locks/" },
        { "a/b", "a/b/" },
        { "a/b/", "a/b/" },
        { "", "" },
    };

    [Theory]
    [MemberData(nameof(Folders))]
    public async Task The_real_provider_joins_the_prefix_as_a_folder_and_names_the_full_key_everywhere(string prefix, string folder)
    {
        var provider = NewProvider(o => o.KeyPrefix = Prefix + prefix);
        var full = Prefix + folder + "webhook_receiver/42";

        await AssertOneKeyFormAsync(provider, full);
        await using (var handle = await provider.AcquireAsync("webhook_receiver/42"))
        {
            Assert.NotNull(await ReadKeyAsync(full));
        }
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public async Task The_in_memory_provider_speaks_of_keys_as_the_real_one_does(string prefix, string folder)
    {
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = prefix });
        var full = folder + "webhook_receiver/42";

        await AssertOneKeyFormAsync(provider, full);
        await using (var handle = await provider.AcquireAsync("webhook_receiver/42"))
        {
            Assert.Equal([full], provider.HeldKeys);
            Assert.True(provider.IsHeld(full));
            Assert.True(provider.Lose(full));
            Assert.False(provider.IsHeld(full));
        }
    }

    [Fact]
    public async Task The_in_memory_provider_refuses_a_key_without_its_prefix_instead_of_answering_false()
    {
        var provider = new InMemoryConsulLockProvider(new ConsulLockOptions { KeyPrefix = "locks/" });
        await using var handle = await provider.AcquireAsync("orders/7");

        var error = Assert.Throws<ArgumentException>(() => provider.IsHeld("orders/7"));
        Assert.Contains("locks/orders/7", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => provider.Lose("orders/7"));
        Assert.True(provider.IsHeld("locks/orders/7"));
    }

    private static async Task AssertOneKeyFormAsync(IConsulLockProvider provider, string full)
    {
        var noWait = new LockedMethodSettings(request: null, waitTimeout: TimeSpan.Zero, LockTimeoutBehavior.Throw);
        var wait = new LockedMethodSettings(request: null, waitTimeout: null, LockTimeoutBehavior.Throw);
        Func<ConsulLockContext, Task> body = async context =>
        {
            Assert.Equal(full, context.Key);

            // Asked again in the same flow: reentrancy.
            var again = await Assert.ThrowsAsync<ConsulLockReentrancyException>(() =>
                LockedMethodRunner.RunAsync(provider, "webhook_receiver/42", noWait, (ConsulLockContext _) => Task.CompletedTask, default));
            Assert.Equal(full, again.Key);
            Assert.Contains($"'{full}'", again.Message, StringComparison.Ordinal);

            // Asked by another flow while held: a timeout.
            Task other;
            using (ExecutionContext.SuppressFlow())
            {
                other = Task.Run(() => LockedMethodRunner.RunAsync(provider, "webhook_receiver/42", noWait, (ConsulLockContext _) => Task.CompletedTask, default));
            }

            var timeout = await Assert.ThrowsAsync<ConsulLockTimeoutException>(() => other);
            Assert.Equal(full, timeout.Key);
            Assert.Contains($"'{full}'", timeout.Message, StringComparison.Ordinal);
        };
        await LockedMethodRunner.RunAsync(provider, "webhook_receiver/42", wait, body, default);

        await using var handle = await provider.AcquireAsync("webhook_receiver/42");
        Assert.Equal(full, handle.Key);
    }
}
