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
    /// Until <paramref name="provider"/> has a waiter (or holder) subscribed to the watch of <paramref name="key"/>
    /// (without the prefix): the moment a waiter has found the key busy and blocks on Consul. The engine raises no
    /// event for it, so look, briefly, within a generous bound.
    /// </summary>
    protected async Task UntilWatchedAsync(ConsulLockProvider provider, string key)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!provider.Engine.Watches.HasSubscriber(Prefix + key))
        {
            await Task.Delay(2, timeout.Token);
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
