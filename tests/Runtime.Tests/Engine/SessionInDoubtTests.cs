using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Issue 18, "sessions in doubt": a session create whose answer is lost (a reset, a timeout, an agent that restarts)
/// may still have made a session in Consul. Nobody knows its id, nobody renews it, and before each create attempt had
/// a name of its own it lived until its TTL ended it (up to 2 x TTL). Here the transport forwards the create to a real
/// agent and then loses the answer, and the tests look at what Consul has left.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class SessionInDoubtTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    // Long, so that a leaked session would outlive every bound below by far (Consul ends it 60-120 s after creation).
    private static readonly TimeSpan s_ttl = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(20);

    private readonly string _sessionName = "in-doubt-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_session_whose_create_answer_was_lost_is_found_and_destroyed()
    {
        using var transport = new CreateAnswers(new SocketsHttpHandler()) { ToLose = 1 };
        var provider = NewProvider(transport);

        // The first create reaches Consul, its answer is dropped as a reset would; the acquire retries with a new one.
        await using (var held = await provider.AcquireAsync("in-doubt/a").AsTask().WaitAsync(s_generous))
        {
            var lost = Assert.Single(transport.Lost);
            Assert.NotEqual(lost, held.SessionId);

            // While the lock is held, the session of the lost answer goes away (not 2 x TTL later): only the held one stays.
            var left = await UntilAsync(async () => await SessionsAsync() is var s && s.All(x => x.Id == held.SessionId) ? s : null, s_generous);
            Assert.True(left is not null, $"a session Consul made for the lost answer ({lost}) is still there after {s_generous.TotalSeconds} s: {await DescribeAsync()}");
            Assert.Contains(left, s => s.Id == held.SessionId);
            // Operators see the configured name and a short attempt id.
            Assert.Matches("^" + _sessionName + " #[0-9a-f]{8}$", left.Single().Name);
        }

        await provider.DisposeAsync();
        Assert.Empty(await SessionsAsync());
    }

    [Fact]
    public async Task Disposal_waits_for_the_clean_up_of_creates_whose_answers_were_lost()
    {
        using var transport = new CreateAnswers(new SocketsHttpHandler()) { ToLose = int.MaxValue };
        var provider = NewProvider(transport);

        // Every create's answer is lost: the acquire times out, each attempt may have left a session.
        try
        {
            var handle = await provider.TryAcquireAsync("in-doubt/b", TimeSpan.FromSeconds(2)).AsTask().WaitAsync(s_generous);
            Assert.Null(handle);
        }
        catch (ConsulLockException)
        {
            // Also an honest ending for a wait on a Consul that keeps failing; what counts is what is left below.
        }

        Assert.NotEmpty(transport.Lost);
        var disposal = Stopwatch.StartNew();
        await provider.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        disposal.Stop();

        // Disposal returned: every session of the lost answers is gone already.
        Assert.True((await SessionsAsync()).Count == 0, $"after disposal ({disposal.Elapsed.TotalSeconds:F1} s), lost answers {string.Join(", ", transport.Lost)}: {await DescribeAsync()}");
        Assert.True(disposal.Elapsed < 2 * s_requestTimeout + TimeSpan.FromSeconds(5), $"disposal took {disposal.Elapsed}");
    }

    [Fact]
    public async Task An_acquire_cancelled_while_its_session_create_is_out_leaves_no_session()
    {
        // The create reaches Consul at once, its answer comes 1 s later; the caller gives up after 200 ms.
        using var transport = new CreateAnswers(new SocketsHttpHandler()) { AnswerDelay = TimeSpan.FromSeconds(1) };
        var provider = NewProvider(transport);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => provider.AcquireAsync("in-doubt/c", cancellationToken: cancel.Token).AsTask());

        var left = await UntilAsync(async () => await SessionsAsync() is { Count: 0 } s ? s : null, s_generous);
        Assert.True(left is not null, $"the session of the abandoned create is still there after {s_generous.TotalSeconds} s: {await DescribeAsync()}");
        await provider.DisposeAsync();
        Assert.Empty(await SessionsAsync());
    }

    private ConsulLockProvider NewProvider(HttpMessageHandler transport)
    {
        var options = new ConsulLockOptions
        {
            Address = Agent.Address,
            KeyPrefix = Prefix,
            LockDelay = TimeSpan.Zero,
            Token = null,
            SessionTtl = s_ttl,
            SessionName = _sessionName,
            RequestTimeout = s_requestTimeout,
        };
        return new ConsulLockProvider(options, null, transport);
    }

    /// <summary>Sessions on the agent whose name starts with this test's session name (with or without an attempt id).</summary>
    private async Task<List<(string Id, string Name)>> SessionsAsync()
    {
        var (_, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/session/list");
        return JsonDocument.Parse(body).RootElement.EnumerateArray()
            .Select(s => (Id: s.GetProperty("ID").GetString()!, Name: s.GetProperty("Name").GetString() ?? ""))
            .Where(s => s.Name.StartsWith(_sessionName, StringComparison.Ordinal))
            .ToList();
    }

    private async Task<string> DescribeAsync() =>
        string.Join("; ", (await SessionsAsync()).Select(s => $"{s.Id} '{s.Name}'"));

    private static async Task<T?> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan limit)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            if (clock.Elapsed > limit)
            {
                return null;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Forwards every request to the agent. A session create always reaches it; then its answer is dropped as a
    /// connection reset would (<see cref="ToLose"/> of them, recording the id Consul gave in <see cref="Lost"/>), or
    /// comes <see cref="AnswerDelay"/> late, whatever the caller's token says.
    /// </summary>
    private sealed class CreateAnswers(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _toLose;

        public int ToLose
        {
            get => Volatile.Read(ref _toLose);
            init => _toLose = value;
        }

        public TimeSpan AnswerDelay { get; init; }

        public ConcurrentQueue<string> Lost { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method != HttpMethod.Put || request.RequestUri!.AbsolutePath != "/v1/session/create")
            {
                return await base.SendAsync(request, cancellationToken);
            }

            var response = await base.SendAsync(request, CancellationToken.None);
            if (Interlocked.Decrement(ref _toLose) >= 0)
            {
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                response.Dispose();
                Lost.Enqueue(JsonDocument.Parse(body).RootElement.GetProperty("ID").GetString()!);
                throw new HttpRequestException("Connection reset by peer (test: the answer to the create is dropped).", new IOException("Connection reset by peer"));
            }

            if (AnswerDelay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(AnswerDelay, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    response.Dispose();
                    throw;
                }
            }

            return response;
        }
    }
}
