using System.Diagnostics;
using System.Text.Json;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Against a real agent that serves HTTPS only and requires client certificates (<c>verify_incoming</c>): mutual TLS
/// works, and a TLS set-up that cannot work fails the first request at once, naming the certificate problem, instead
/// of being retried as an outage until the caller's wait ends.
/// </summary>
public sealed class TlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    // Far below RequestTimeout (10 s), which is what retrying as an outage took.
    private static readonly TimeSpan s_atOnce = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan s_noHang = TimeSpan.FromSeconds(30);
    private TlsConsulAgent _agent = null!;

    public async Task InitializeAsync() => _agent = await TlsConsulAgent.StartAsync();

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Fact]
    public async Task Over_mutual_TLS_locks_are_taken_excluded_and_released_and_no_session_is_left()
    {
        await using (var first = new ConsulLockProvider(Trusted(_agent.ClientCertificate)))
        await using (var second = new ConsulLockProvider(Trusted(_agent.ClientCertificate)))
        {
            var handle = await first.AcquireAsync("tls/job").AsTask().WaitAsync(s_noHang);
            Assert.Equal("tls/job", handle.Key);
            Assert.False(handle.LostToken.IsCancellationRequested);
            Assert.Equal(handle.SessionId, await HolderOfAsync("tls/job"));

            // The other provider is excluded while the first holds it, and gets it once released.
            Assert.Null(await second.TryAcquireAsync("tls/job", TimeSpan.FromMilliseconds(500)).AsTask().WaitAsync(s_noHang));
            await using (var other = await second.TryAcquireAsync("tls/other", TimeSpan.FromSeconds(5)).AsTask().WaitAsync(s_noHang))
            {
                Assert.NotNull(other);
            }

            var waiting = second.TryAcquireAsync("tls/job", TimeSpan.FromSeconds(10)).AsTask();
            await handle.DisposeAsync();
            await using var next = await waiting.WaitAsync(s_noHang);
            Assert.NotNull(next);
            Assert.True(next.FencingToken > handle.FencingToken, $"fencing token {next.FencingToken} after {handle.FencingToken}");
        }

        using var http = _agent.NewHttpClient();
        var sessions = await http.GetStringAsync(new Uri("/v1/session/list", UriKind.Relative));
        Assert.Equal("[]", sessions.Trim());
        Assert.Null(await HolderOfAsync("tls/job"));
    }

    [Fact]
    public async Task Without_a_client_certificate_the_first_request_fails_at_once_and_says_one_is_required()
    {
        await using var provider = new ConsulLockProvider(Trusted(clientCertificate: null));

        var error = await FailsAtOnceAsync(provider, "tls/no-client-certificate");

        Assert.Contains("refused this client's TLS certificate", error.Message, StringComparison.Ordinal);
        // The inner cause's words: OpenSSL's name of Consul's TLS alert.
        Assert.Contains("alert bad certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("No client certificate was sent", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConsulLockOptions.ClientCertificate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_certificate_from_another_CA_fails_at_once_and_says_it_was_refused()
    {
        await using var provider = new ConsulLockProvider(Trusted(_agent.ForeignClientCertificate));

        var error = await FailsAtOnceAsync(provider, "tls/foreign-client-certificate");

        Assert.Contains("refused this client's TLS certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("alert bad certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("signed by the CA in its ca_file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_certificate_from_an_untrusted_CA_fails_at_once_and_says_so()
    {
        // Default validation: the agent's CA is in no trust store of this machine.
        var options = new ConsulLockOptions { Address = _agent.Address, ClientCertificate = _agent.ClientCertificate };
        await using var provider = new ConsulLockProvider(options);

        var error = await FailsAtOnceAsync(provider, "tls/untrusted-server");

        Assert.Contains("server certificate was not accepted", error.Message, StringComparison.Ordinal);
        // The inner cause's words (Consul sends no chain, so .NET stops at a partial one rather than an untrusted root).
        Assert.Contains("The remote certificate is invalid because of errors in the certificate chain", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConfigureHttpHandler", error.Message, StringComparison.Ordinal);
    }

    private ConsulLockOptions Trusted(System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate) => new()
    {
        Address = _agent.Address,
        ClientCertificate = clientCertificate,
        ConfigureHttpHandler = _agent.TrustCertificateAuthority,
        LockDelay = TimeSpan.Zero,
        SessionIdleTimeout = TimeSpan.Zero,
    };

    /// <summary>AcquireAsync and TryAcquireAsync (with a wait longer than the limit) both fail within it, the same way.</summary>
    private async Task<ConsulLockException> FailsAtOnceAsync(ConsulLockProvider provider, string key)
    {
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.AcquireAsync(key).AsTask().WaitAsync(s_noHang));
        output.WriteLine($"AcquireAsync, after {clock.Elapsed.TotalMilliseconds:0} ms: {error}");
        Assert.True(clock.Elapsed < s_atOnce, $"AcquireAsync failed only after {clock.Elapsed}: {error.Message}");

        clock.Restart();
        var again = await Assert.ThrowsAsync<ConsulLockException>(async () => await provider.TryAcquireAsync(key, TimeSpan.FromSeconds(20)).AsTask().WaitAsync(s_noHang));
        output.WriteLine($"TryAcquireAsync, after {clock.Elapsed.TotalMilliseconds:0} ms: {again.Message}");
        Assert.True(clock.Elapsed < s_atOnce, $"TryAcquireAsync failed only after {clock.Elapsed}: {again.Message}");

        // Not an outage: the engine does not retry it, and says so through the same exception type as any refusal.
        Assert.Equal(typeof(ConsulLockException), error.GetType());
        Assert.Equal(typeof(ConsulLockException), again.GetType());
        Assert.Contains(_agent.Address.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Null(error.StatusCode);
        return error;
    }

    /// <summary>The session holding <paramref name="key"/>, or null when it is free or absent.</summary>
    private async Task<string?> HolderOfAsync(string key)
    {
        using var http = _agent.NewHttpClient();
        using var response = await http.GetAsync(new Uri("/v1/kv/" + key, UriKind.Relative));
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        using var entries = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return entries.RootElement[0].TryGetProperty("Session", out var session) ? session.GetString() : null;
    }
}
