using System.Diagnostics;
using System.Net;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>What engine tests share: the agent, a key prefix of their own, and providers they dispose.</summary>
public abstract class ConsulTestContext(ConsulAgentFixture fixture) : IAsyncLifetime
{
    private readonly List<ConsulLockProvider> _providers = [];

    protected ConsulAgent Agent => fixture.Agent;

    /// <summary>Every test works under its own prefix, so tests sharing the agent never meet.</summary>
    protected string Prefix { get; } = "tests/" + Guid.NewGuid().ToString("N")[..12] + "/";

    protected ConsulLockProvider NewProvider(Action<ConsulLockOptions>? configure = null, Uri? address = null)
    {
        var options = new ConsulLockOptions { Address = address ?? Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, Token = null };
        configure?.Invoke(options);
        var provider = new ConsulLockProvider(options);
        _providers.Add(provider);
        return provider;
    }

    protected async Task<JsonElement?> ReadKeyAsync(string key)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + key);
        if (status == HttpStatusCode.NotFound)
        {
            return null;
        }

        Assert.Equal(HttpStatusCode.OK, status);
        return JsonDocument.Parse(body).RootElement[0].Clone();
    }

    protected async Task<string[]> SessionIdsAsync()
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        return JsonDocument.Parse(body).RootElement.EnumerateArray().Select(s => s.GetProperty("ID").GetString()!).ToArray();
    }

    /// <summary>
    /// Until <paramref name="provider"/> has a waiter subscribed to the watch of <paramref name="key"/> (without the
    /// prefix) or of an entry in its queue: the moment a waiter has found the key busy and blocks on Consul. The
    /// engine raises no event for it, so look, briefly, within a generous bound.
    /// </summary>
    protected async Task UntilWatchedAsync(ConsulLockProvider provider, string key)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!provider.Engine.HasWaiterOn(Prefix + key))
        {
            await Task.Delay(2, timeout.Token);
        }
    }

    /// <summary>How many keys start with <paramref name="folder"/> (without the prefix): a folder, or a key and its queue.</summary>
    protected async Task<int> KeysUnderAsync(string folder)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + Prefix + folder + "?keys");
        if (status == HttpStatusCode.NotFound)
        {
            return 0;
        }

        Assert.Equal(HttpStatusCode.OK, status);
        return JsonDocument.Parse(body).RootElement.GetArrayLength();
    }

    /// <summary>Until neither <paramref name="key"/> (without the prefix) nor an entry of its queue is left in Consul.</summary>
    protected Task UntilNothingLeftAsync(string key) =>
        UntilAsync(async () => await KeysUnderAsync(key) == 0, $"the key '{key}' or an entry of its queue was left behind");

    /// <summary>The entries in the queue of <paramref name="key"/> (without the prefix): processes waiting in Consul.</summary>
    protected async Task<string[]> QueueEntriesAsync(string key)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + Prefix + key + "/.consullock-queue/?keys");
        return status == HttpStatusCode.NotFound ? [] : JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    /// <summary>Until <paramref name="condition"/> holds, looking every 20 ms; fails with <paramref name="failure"/> after a generous 30 s.</summary>
    protected static async Task UntilAsync(Func<Task<bool>> condition, string failure)
    {
        var started = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30), failure);
            await Task.Delay(20);
        }
    }

    protected Task PutAsync(string path, string body = "") => ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, path, body);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
    }
}
