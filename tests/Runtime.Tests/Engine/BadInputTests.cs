using System.Net;
using System.Net.Sockets;
using System.Text;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>Bad input ends in a clear exception, before any network call where it can be known beforehand; nothing hangs.</summary>
[Collection(ConsulCollection.Name)]
public sealed class BadInputTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_noHang = TimeSpan.FromSeconds(30);

    public static TheoryData<string, string> BadKeys => new()
    {
        { "", "empty" },
        { "/leading", "starts with '/'" },
        { "a//b", "'//'" },
        { "a/../b", "'..' segment" },
        { "a/./b", "'.' segment" },
        { "jobs/.consullock-queue/x", "'.consullock-queue' segment, which is kept for the queues of waiting processes" },
        { "jobs/.consullock-queue", "'.consullock-queue' segment" },
        { "trailing/", "ends with '/'" },
        { new string('k', 513), "more than the 512 allowed" },
        { new string('\u00e9', 300), "more than the 512 allowed" }, // 300 chars, 600 UTF-8 bytes
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Invalid_keys_are_refused_before_any_network_call(string key, string reason)
    {
        await using var provider = Unreachable();

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await provider.AcquireAsync(key));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_null_key_is_refused()
    {
        await using var provider = Unreachable();
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await provider.AcquireAsync(null!));
    }

    public static TheoryData<ConsulLockRequest, string> BadRequests => new()
    {
        { new ConsulLockRequest { SessionTtl = TimeSpan.FromSeconds(9) }, "SessionTtl" },
        { new ConsulLockRequest { SessionTtl = TimeSpan.FromHours(25) }, "SessionTtl" },
        { new ConsulLockRequest { LockDelay = TimeSpan.FromSeconds(61) }, "LockDelay" },
        { new ConsulLockRequest { LockDelay = TimeSpan.FromSeconds(-1) }, "LockDelay" },
        { new ConsulLockRequest { Behavior = (SessionBehavior)7 }, "Behavior" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Out_of_range_request_settings_are_refused_before_any_network_call(ConsulLockRequest request, string name)
    {
        await using var provider = Unreachable();

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.AcquireAsync("ok", request));

        Assert.Contains(name, error.ParamName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_with_every_field_null_takes_the_provider_defaults()
    {
        var provider = NewProvider();
        await using var handle = await provider.AcquireAsync("defaults", new ConsulLockRequest { SessionTtl = null, LockDelay = null, Behavior = null });
        Assert.NotEmpty(handle.SessionId);
    }

    [Fact]
    public async Task A_negative_timeout_is_refused()
    {
        await using var provider = Unreachable();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await provider.TryAcquireAsync("ok", TimeSpan.FromSeconds(-2)));
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:8500")]
    [InlineData("unix:///var/run/consul.sock")]
    public void An_address_with_a_bad_scheme_is_refused_when_the_provider_is_created(string address)
    {
        var error = Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions { Address = new Uri(address) }));
        Assert.Contains("http:// or https://", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_provider_options_are_refused()
    {
        // Options errors are ArgumentException naming the option and its value (see OptionsValidationTests).
        Assert.Contains("SessionTtl", Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions { SessionTtl = TimeSpan.FromSeconds(5) })).Message, StringComparison.Ordinal);
        Assert.Contains("LockDelay", Assert.Throws<ArgumentException>(() => new ConsulLockProvider(new ConsulLockOptions { LockDelay = TimeSpan.FromMinutes(2) })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_address_gives_a_clear_exception_naming_it()
    {
        await using var provider = Unreachable();

        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync("job").AsTask().WaitAsync(s_noHang));

        Assert.Contains("could not be reached", error.Message, StringComparison.Ordinal);
        Assert.Contains(provider.Address, error.Message, StringComparison.Ordinal);
        Assert.Equal("job", error.Key);
    }

    [Fact]
    public async Task Malformed_JSON_from_the_endpoint_gives_a_clear_exception()
    {
        await using var fake = FakeConsul.Start(_ => (200, "[{\"Key\": \"job\", \"Flags\": "));
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = fake.Address });

        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync("job").AsTask().WaitAsync(s_noHang));

        Assert.Contains("malformed JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_error_is_retried_with_backoff_within_the_wait_then_named_with_its_status()
    {
        await using var fake = FakeConsul.Start(_ => (500, "rpc error: No cluster leader"));
        // An endless wait rides out transient errors for one request timeout, then gives up with the last one.
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = fake.Address, RequestTimeout = TimeSpan.FromSeconds(2) });

        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync("job").AsTask().WaitAsync(s_noHang));

        Assert.Equal(500, error.StatusCode);
        Assert.Equal("job", error.Key);
        Assert.Contains("No cluster leader", error.Message, StringComparison.Ordinal);
        // Retried, but backing off (50 ms doubling, jittered): a handful of requests in 2 s, not a storm.
        Assert.InRange(fake.Requests, 2, 12);
    }

    [Fact]
    public async Task A_permanent_error_is_not_retried()
    {
        await using var fake = FakeConsul.Start(_ => (400, "Bad request: nope"));
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = fake.Address });

        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync("job").AsTask().WaitAsync(s_noHang));

        Assert.Equal(400, error.StatusCode);
        Assert.Equal(1, fake.Requests);
    }

    [Fact]
    public async Task A_non_lock_key_gives_a_conflict()
    {
        await PutAsync("/v1/kv/" + Prefix + "plain", "data");
        var provider = NewProvider();
        await Assert.ThrowsAsync<ConsulLockConflictException>(async () => await provider.AcquireAsync("plain"));
    }

    private static UnreachableProvider Unreachable() => new();

    /// <summary>A provider pointed at a port nobody listens on: any network call would fail loudly.</summary>
    private sealed class UnreachableProvider : IAsyncDisposable
    {
        private readonly ConsulLockProvider _provider;

        public UnreachableProvider()
        {
            var port = FreePorts.Take(1)[0];
            Address = $"http://127.0.0.1:{port}/";
            // An endless wait rides out an unreachable Consul for one request timeout: keep it short here.
            _provider = new ConsulLockProvider(new ConsulLockOptions { Address = new Uri(Address), RequestTimeout = TimeSpan.FromSeconds(2) });
        }

        public string Address { get; }

        public ValueTask<IConsulLockHandle> AcquireAsync(string key, ConsulLockRequest? request = null) => _provider.AcquireAsync(key, request);

        public ValueTask<IConsulLockHandle?> TryAcquireAsync(string key, TimeSpan timeout) => _provider.TryAcquireAsync(key, timeout);

        public ValueTask DisposeAsync() => _provider.DisposeAsync();
    }

    /// <summary>A minimal HTTP endpoint that answers every request the same way; for malformed answers only.</summary>
    private sealed class FakeConsul : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Func<string, (int Status, string Body)> _answer;
        private readonly Task _loop;
        private int _requests;

        private FakeConsul(Func<string, (int, string)> answer)
        {
            _answer = answer;
            _listener.Start();
            Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
            _loop = Task.Run(ServeAsync);
        }

        public Uri Address { get; }

        public int Requests => _requests;

        public static FakeConsul Start(Func<string, (int, string)> answer) => new(answer);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var stream = client.GetStream();
                var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    var requestLine = line;
                    var contentLength = 0;
                    while (await reader.ReadLineAsync(_stop.Token) is { Length: > 0 } header)
                    {
                        if (header.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        {
                            contentLength = int.Parse(header[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                    }

                    var body = new char[contentLength];
                    if (contentLength > 0)
                    {
                        await reader.ReadBlockAsync(body, _stop.Token);
                    }

                    Interlocked.Increment(ref _requests);
                    var (status, text) = _answer(requestLine);
                    var payload = Encoding.UTF8.GetBytes(text);
                    var head = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nX-Consul-Index: 5\r\nContent-Length: {payload.Length}\r\n\r\n");
                    await stream.WriteAsync(head, _stop.Token);
                    await stream.WriteAsync(payload, _stop.Token);
                }
            }
        }
    }
}
