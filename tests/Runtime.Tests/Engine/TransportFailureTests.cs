using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>
/// Whatever the transport throws comes out of <see cref="ConsulClient"/> as a <see cref="ConsulLockException"/>,
/// transient (retried by the engine) unless it can never pass; only the caller's own cancellation stays an
/// <see cref="OperationCanceledException"/>. No Consul needed: a handler throws.
/// </summary>
public sealed class TransportFailureTests
{
    private static readonly TimeSpan s_noHang = TimeSpan.FromSeconds(30);

    public static TheoryData<string, bool, string> Failures => new()
    {
        // name of the case (see Throw), whether it must be transient, words the message must carry
        { "raw SocketException 107", true, "could not be reached" },
        { "IOException with a reset", true, "Connection reset by peer" },
        { "HttpRequestException with a reset", true, "Connection reset by peer" },
        { "reset during the TLS handshake", true, "could not be reached" },
        { "InvalidOperationException from a handler", true, "a handler that broke" },
        { "TaskCanceledException the handler raised itself", true, "could not be reached" },
        { "ObjectDisposedException", false, "disposed" },
        { "untrusted server certificate", false, "UntrustedRoot" },
        { "client certificate refused over TLS 1.3", false, "alert bad certificate" },
        { "client certificate refused over TLS 1.2", false, "alert bad certificate" },
        { "https on a plain HTTP port", false, "corrupted frame" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Every_transport_exception_becomes_a_ConsulLockException_classified_once(string name, bool transient, string words)
    {
        using var handler = new ThrowingHandler((_, _) => throw Throw(name));
        using var client = new ConsulClient(new ConsulLockOptions { Address = new Uri("http://127.0.0.1:1") }, handler);

        var error = await Assert.ThrowsAsync<ConsulLockException>(() => client.ReadKeyAsync("some/key", CancellationToken.None).WaitAsync(s_noHang));

        Assert.Equal(typeof(ConsulLockException), error.GetType());
        Assert.Equal(transient, ConsulClient.IsTransient(error));
        Assert.Contains(words, error.Message, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Assert.Equal("some/key", error.Key);
        Assert.Null(error.StatusCode);
        Assert.NotNull(error.InnerException);
    }

    [Fact]
    public async Task A_certificate_problem_says_how_to_fix_it()
    {
        using var server = new ThrowingHandler((_, _) => throw Throw("untrusted server certificate"));
        using var serverClient = new ConsulClient(new ConsulLockOptions { Address = new Uri("https://consul.example:8501") }, server);
        var untrusted = await Assert.ThrowsAsync<ConsulLockException>(() => serverClient.PingAsync(CancellationToken.None).WaitAsync(s_noHang));
        Assert.Contains("server certificate", untrusted.Message, StringComparison.Ordinal);
        Assert.Contains("ConfigureHttpHandler", untrusted.Message, StringComparison.Ordinal);

        using var client = new ThrowingHandler((_, _) => throw Throw("client certificate refused over TLS 1.3"));
        using var clientClient = new ConsulClient(new ConsulLockOptions { Address = new Uri("https://consul.example:8501") }, client);
        var refused = await Assert.ThrowsAsync<ConsulLockException>(() => clientClient.PingAsync(CancellationToken.None).WaitAsync(s_noHang));
        Assert.Contains("refused this client's TLS certificate", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ClientCertificate", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_callers_own_cancellation_stays_an_OperationCanceledException_whatever_the_transport_throws()
    {
        // The transport reports the abort as a reset rather than as a cancellation.
        using var handler = new ThrowingHandler(async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { }, TaskScheduler.Default);
            throw new IOException("Unable to read data from the transport connection: Operation canceled.");
        });
        using var client = new ConsulClient(new ConsulLockOptions { Address = new Uri("http://127.0.0.1:1") }, handler);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ReadKeyAsync("k", cancel.Token).WaitAsync(s_noHang));

        Assert.Equal(cancel.Token, error.CancellationToken);
    }

    [Fact]
    public async Task A_request_cut_by_its_own_timeout_is_a_transient_failure_naming_the_timeout()
    {
        using var handler = new ThrowingHandler(async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            throw new UnreachableException();
        });
        var options = new ConsulLockOptions { Address = new Uri("http://127.0.0.1:1"), RequestTimeout = TimeSpan.FromMilliseconds(200) };
        using var client = new ConsulClient(options, handler);

        var error = await Assert.ThrowsAsync<ConsulLockException>(() => client.ReadKeyAsync("k", CancellationToken.None).WaitAsync(s_noHang));

        Assert.Contains("did not answer within 0.2 s", error.Message, StringComparison.Ordinal);
        Assert.True(ConsulClient.IsTransient(error));
    }

    [Fact]
    public async Task A_disposed_client_throws_ObjectDisposedException_as_any_disposed_object()
    {
        using var handler = new ThrowingHandler((_, _) => throw new UnreachableException());
        var client = new ConsulClient(new ConsulLockOptions { Address = new Uri("http://127.0.0.1:1") }, handler);
        client.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ReadKeyAsync("k", CancellationToken.None).WaitAsync(s_noHang));
    }

    [Fact]
    public void A_failure_the_engine_wraps_after_retrying_is_not_itself_transient()
    {
        var outage = new ConsulLockException("Consul at x could not be reached", "k", null, new HttpRequestException("reset"));
        Assert.True(ConsulClient.IsTransient(outage));
        Assert.False(ConsulClient.IsTransient(new ConsulLockException("Consul kept failing", "k", null, outage)));
        Assert.False(ConsulClient.IsTransient(new ConsulLockException("no cause", "k", null, null)));
    }

    /// <summary>The exceptions .NET was seen to throw (see TransportFailure's remarks), rebuilt.</summary>
    private static Exception Throw(string name) => name switch
    {
        "raw SocketException 107" => new SocketException((int)SocketError.NotConnected),
        "IOException with a reset" => new IOException(
            "Unable to read data from the transport connection: Connection reset by peer.", new SocketException((int)SocketError.ConnectionReset)),
        "HttpRequestException with a reset" => new HttpRequestException(
            HttpRequestError.Unknown, "An error occurred while sending the request.", new IOException(
                "Unable to write data to the transport connection: Connection reset by peer.", new SocketException((int)SocketError.ConnectionReset))),
        "reset during the TLS handshake" => new HttpRequestException(
            HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.", new IOException(
                "Unable to read data from the transport connection: Connection reset by peer.", new SocketException((int)SocketError.ConnectionReset))),
        "InvalidOperationException from a handler" => new InvalidOperationException("a handler that broke"),
        "TaskCanceledException the handler raised itself" => new TaskCanceledException(),
        "ObjectDisposedException" => new ObjectDisposedException("System.Net.Http.SocketsHttpHandler"),
        "untrusted server certificate" => new HttpRequestException(
            HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.",
            new AuthenticationException("The remote certificate is invalid because of errors in the certificate chain: UntrustedRoot")),
        "client certificate refused over TLS 1.3" => new HttpRequestException(
            HttpRequestError.Unknown, "An error occurred while sending the request.", new IOException(
                "The decryption operation failed, see inner exception.", new CryptographicException("error:0A000412:SSL routines::sslv3 alert bad certificate"))),
        "client certificate refused over TLS 1.2" => new HttpRequestException(
            HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.", new AuthenticationException(
                "Authentication failed, see inner exception.", new CryptographicException("error:0A000412:SSL routines::sslv3 alert bad certificate"))),
        "https on a plain HTTP port" => new HttpRequestException(
            HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.",
            new AuthenticationException("Cannot determine the frame size or a corrupted frame was received.")),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private sealed class ThrowingHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            send(request, cancellationToken);
    }
}
