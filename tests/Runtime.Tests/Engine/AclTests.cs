using System.Collections.Concurrent;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>Against an agent that enforces ACLs (default deny).</summary>
public sealed class AclTests : IAsyncLifetime
{
    private ConsulAgent _agent = null!;

    public async Task InitializeAsync() => _agent = await ConsulAgent.StartWithAclAsync();

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Fact]
    public async Task A_token_without_key_write_fails_clearly_once_leaves_no_session_and_is_never_shown()
    {
        var token = await _agent.CreateTokenAsync("""
            key_prefix "" { policy = "read" }
            session_prefix "" { policy = "write" }
            """);
        var requests = new CountingHandler();
        var logs = new RecordingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var options = new ConsulLockOptions { Address = _agent.Address, Token = token, LockDelay = TimeSpan.Zero };
        await using var provider = new ConsulLockProvider(options, loggerFactory, requests);

        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync("acl/job", cancellationToken: guard.Token));

        Assert.Equal("acl/job", error.Key);
        Assert.Equal(403, error.StatusCode);
        Assert.Contains("acl/job", error.Message, StringComparison.Ordinal);
        Assert.Contains("403", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(token, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, line => line.Contains(token, StringComparison.Ordinal));
        // Read the key, create a session, try once: no retry loop.
        Assert.InRange(requests.Requests, 1, 4);

        await provider.DisposeAsync();
        var (_, sessions) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent.Address, "/v1/session/list", token: _agent.MasterToken);
        Assert.Equal("[]", sessions.Trim());
    }

    [Fact]
    public async Task A_token_with_key_and_session_write_locks()
    {
        var token = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "write" }
            session_prefix "" { policy = "write" }
            """);
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = "locks/" });

        // The warm-up that AddConsulLocking runs at host start needs nothing more than locking does.
        await provider.WarmUpAsync();
        await using var handle = await provider.AcquireAsync("ok");

        Assert.Equal("locks/ok", handle.Key);
    }

    [Fact]
    public async Task Under_the_READMEs_policy_a_minimum_hold_is_handed_to_its_own_session_and_ends_on_time_and_a_hold_limit_releases()
    {
        // The README's least-privilege policy, unchanged: holds need no more than locks do.
        var token = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "write" }
            session_prefix "" { policy = "write" }
            """);
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = "locks/", LockDelay = TimeSpan.Zero });
        await using var other = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = "locks/", LockDelay = TimeSpan.Zero });

        var held = await provider.AcquireAsync("job", new ConsulLockRequest { MinHold = TimeSpan.FromSeconds(2) });
        await held.DisposeAsync();
        Assert.Null(await other.TryAcquireAsync("job", TimeSpan.Zero));
        await using (var next = await other.TryAcquireAsync("job", TimeSpan.FromSeconds(20)))
        {
            Assert.NotNull(next);
        }

        var limited = await provider.AcquireAsync("limited", new ConsulLockRequest { MaxHold = TimeSpan.FromSeconds(1) });
        await using (var after = await other.TryAcquireAsync("limited", TimeSpan.FromSeconds(20)))
        {
            Assert.NotNull(after);
            Assert.True(limited.LostToken.IsCancellationRequested);
        }

        await limited.DisposeAsync();
        await provider.DisposeAsync();
        await other.DisposeAsync();
        var (_, sessions) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent.Address, "/v1/session/list", token: _agent.MasterToken);
        Assert.Equal("[]", sessions.Trim());
    }

    [Fact]
    public async Task Under_the_READMEs_policies_holders_are_read_and_watched_and_a_token_without_session_read_still_sees_the_instance()
    {
        // The README's lock policy, unchanged: the holder's document, session and queue are all within it.
        var lockToken = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "write" }
            session_prefix "" { policy = "write" }
            """);
        // The README's inspect policy (consullock list/show/watch, a dashboard): read only.
        var readToken = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "read" }
            session_prefix "" { policy = "read" }
            """);
        var keysOnly = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "read" }
            """);
        await using var holder = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = lockToken, KeyPrefix = "locks/", LockDelay = TimeSpan.Zero, InstanceName = "acl-holder" });
        await using var inspector = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = readToken, KeyPrefix = "locks/" });
        await using var blind = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = keysOnly, KeyPrefix = "locks/" });
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await using var changes = inspector.WatchHolderAsync("watched", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Null(changes.Current);

        var handle = await holder.AcquireAsync("watched");
        Assert.True(await changes.MoveNextAsync());
        var watched = changes.Current;
        var read = await inspector.GetHolderAsync("watched");
        var own = await holder.GetHolderAsync("watched");
        var withoutSessions = await blind.GetHolderAsync("watched");

        Assert.NotNull(read);
        Assert.Equal(read, watched);
        Assert.Equal(read, own);
        Assert.Equal(("acl-holder", handle.SessionId, handle.FencingToken), (read.InstanceName, read.SessionId, read.FencingToken));
        Assert.False(string.IsNullOrEmpty(read.Node));
        // Without 'session read' the session is not shown, but the document still names the holder.
        Assert.NotNull(withoutSessions);
        Assert.Equal(("acl-holder", handle.SessionId, (string?)null), (withoutSessions.InstanceName, withoutSessions.SessionId, withoutSessions.Node));

        await handle.DisposeAsync();
        Assert.True(await changes.MoveNextAsync());
        Assert.Null(changes.Current);

        // A key outside the token's rules: refused, clearly, never retried into a hang.
        await using var unprefixed = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = readToken });
        var refused = await Assert.ThrowsAsync<ConsulLockException>(async () => await unprefixed.GetHolderAsync("elsewhere/job"));
        Assert.Equal(403, refused.StatusCode);
        Assert.DoesNotContain(readToken, refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_the_READMEs_policy_leaders_campaign_hand_over_and_show_who_leads_and_a_refused_campaign_goes_on_and_says_why()
    {
        // The README's least-privilege policy, unchanged: a campaign is locks, waiting and holder reads.
        var token = await _agent.CreateTokenAsync("""
            key_prefix "locks/" { policy = "write" }
            session_prefix "" { policy = "write" }
            """);
        ConsulLockProvider NewProvider(string name, string prefix = "locks/") =>
            new(new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = prefix, LockDelay = TimeSpan.Zero, InstanceName = name });
        await using var first = NewProvider("first");
        await using var second = NewProvider("second");
        var terms = System.Threading.Channels.Channel.CreateUnbounded<(string Instance, ulong Token)>();
        Func<ConsulLockContext, CancellationToken, Task> Body(string name) => async (term, whileLeader) =>
        {
            terms.Writer.TryWrite((name, term.FencingToken));
            await Task.Delay(Timeout.Infinite, whileLeader).ContinueWith(static _ => { }, TaskScheduler.Default);
        };
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var leading = first.LeadAsync("leaders/job", Body("first"), cancellationToken: stopFirst.Token);
        var firstTerm = await terms.Reader.ReadAsync(guard.Token);
        var standingBy = second.LeadAsync("leaders/job", Body("second"), cancellationToken: stopSecond.Token);
        await using (var watch = second.WatchHolderAsync("leaders/job", guard.Token).GetAsyncEnumerator(guard.Token))
        {
            Assert.True(await watch.MoveNextAsync());
            Assert.Equal("first", watch.Current?.InstanceName);
        }

        var health = await new ConsulLock.Aop.HealthChecks.ConsulLockHealthCheck(second).CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());
        Assert.Equal("standing by (first leads)", health.Data["campaign:locks/leaders/job"]);

        await stopFirst.CancelAsync();
        await leading.WaitAsync(guard.Token);
        var secondTerm = await terms.Reader.ReadAsync(guard.Token);
        Assert.Equal("second", secondTerm.Instance);
        Assert.True(secondTerm.Token > firstTerm.Token);
        await stopSecond.CancelAsync();
        await standingBy.WaitAsync(guard.Token);

        // Outside the policy's prefix: Consul refuses (403); the campaign goes on, paced, and the health check says why.
        var logs = new RecordingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var outside = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = token, KeyPrefix = "elsewhere/", LockDelay = TimeSpan.Zero }, loggerFactory);
        using var stopOutside = new CancellationTokenSource();
        var refused = outside.LeadAsync("leaders/job", Body("outside"), cancellationToken: stopOutside.Token);
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult result;
        do
        {
            await Task.Delay(50, guard.Token);
            result = await new ConsulLock.Aop.HealthChecks.ConsulLockHealthCheck(outside).CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());
        }
        while (result.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy);

        Assert.Contains("403", result.Description, StringComparison.Ordinal);
        Assert.False(refused.IsCompleted, "a refused campaign ended instead of going on");
        await stopOutside.CancelAsync();
        await refused.WaitAsync(guard.Token);
        Assert.DoesNotContain(token, result.Description!, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, line => line.Contains(token, StringComparison.Ordinal));
        Assert.Contains(logs.Lines, line => line.Contains("Campaigning for elsewhere/leaders/job failed", StringComparison.Ordinal));

        await first.DisposeAsync();
        await second.DisposeAsync();
        await outside.DisposeAsync();
        var (_, sessions) = await ConsulHttp.SendAsync(HttpMethod.Get, _agent.Address, "/v1/session/list", token: _agent.MasterToken);
        Assert.Equal("[]", sessions.Trim());
    }
}

internal sealed class RecordingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Recorder(this);

    public void Dispose()
    {
    }

    private sealed class Recorder(RecordingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue(formatter(state, exception) + " " + exception);
    }
}
