using System.Net.Http;
using System.Security.Authentication;

namespace ConsulLock.Aop.Consul;

/// <summary>
/// The one place that decides what it means when a request to Consul could not be sent or its answer could not be
/// read: whatever the exception's type, it becomes a <see cref="ConsulLockException"/> whose message says what
/// happened, and it is either transient (an outage: retried within the caller's wait) or permanent (it can never
/// pass by itself: a TLS set-up that cannot work, a disposed handler). <see cref="ConsulClient.IsTransient"/> asks
/// <see cref="IsTransient"/> about the exception kept as the inner one, so the message and the retry decision cannot
/// disagree.
/// </summary>
/// <remarks>
/// <para>
/// What .NET 10 throws on Linux (OpenSSL 3), observed against a Consul 1.8.7 agent serving HTTPS only with
/// <c>verify_incoming</c>, decides the rules:
/// </para>
/// <list type="bullet">
/// <item>A server certificate from a CA this machine does not trust: <see cref="HttpRequestException"/> ("The SSL
/// connection could not be established, see inner exception.") around <see cref="AuthenticationException"/> ("The
/// remote certificate is invalid because of errors in the certificate chain: PartialChain"; Consul sends no
/// intermediate, so the chain stops at its leaf). A name mismatch says "RemoteCertificateNameMismatch" there.</item>
/// <item>No client certificate, or one from another CA, over TLS 1.3 (the default): the handshake completes on our
/// side and Consul's "bad certificate" alert arrives with the answer, as <see cref="HttpRequestException"/> ("An error
/// occurred while sending the request.") around <see cref="IOException"/> ("The decryption operation failed") around
/// OpenSSL's "error:0A000412:SSL routines::sslv3 alert bad certificate". No AuthenticationException at all; only the
/// alert's text tells it from a reset. Over TLS 1.2 the same alert comes inside an AuthenticationException
/// ("Authentication failed, see inner exception.").</item>
/// <item>An <c>https://</c> address on a plain HTTP port: AuthenticationException ("Cannot determine the frame size
/// or a corrupted frame was received.").</item>
/// <item>A reset during the handshake (a proxy or an agent restarting): <see cref="HttpRequestException"/> around
/// <see cref="IOException"/> ("Unable to read data from the transport connection: Connection reset by peer."), an
/// outage like any other reset. So an AuthenticationException means the two sides disagreed; a broken connection
/// is never one.</item>
/// <item>A connection reset right after connect can surface as a bare <c>SocketException</c> (107, "Transport
/// endpoint is not connected", from <c>Socket.RemoteEndPoint</c> in the connection pool), not wrapped at all.</item>
/// </list>
/// <para>
/// Other platforms word TLS alerts differently (SChannel, Apple's TLS). There a refused client certificate that does
/// not surface as an AuthenticationException is classified as an outage: retried until the caller's wait ends, with
/// the platform's words in the message, which is how every failure was treated before.
/// </para>
/// </remarks>
internal static class TransportFailure
{
    // OpenSSL's names for the TLS alerts a server sends when it refuses the client's certificate (RFC 8446 6.2): bad,
    // unsupported, revoked, expired or unknown certificate, unknown CA, access denied, certificate required. OpenSSL's
    // texts are not translated, so matching them is safe.
    private static readonly string[] s_clientCertificateAlerts =
    [
        "alert bad certificate", "alert unsupported certificate", "alert certificate revoked",
        "alert certificate expired", "alert certificate unknown", "alert unknown ca", "alert access denied",
        "alert certificate required",
    ];

    /// <summary>What a failure to send a request or read its answer means.</summary>
    internal enum Kind
    {
        /// <summary>No answer (refused, reset, timed out, anything unexpected): it may pass by itself, so it is retried.</summary>
        Outage,

        /// <summary>Consul's certificate is not trusted or does not name the address: permanent.</summary>
        ServerCertificate,

        /// <summary>Consul refused our client certificate, or the lack of one: permanent.</summary>
        ClientCertificate,

        /// <summary>The TLS handshake failed for another reason than a certificate (an https address on an HTTP port): permanent.</summary>
        TlsHandshake,

        /// <summary>The HTTP client or handler was disposed: no request through it can ever succeed.</summary>
        Disposed,
    }

    /// <summary>Classifies any exception from sending a request or reading its answer; unknown failures are outages.</summary>
    public static Kind Classify(Exception exception)
    {
        if (ClientCertificateAlert(exception) is not null)
        {
            return Kind.ClientCertificate;
        }

        if (Find<AuthenticationException>(exception) is { } authentication)
        {
            // .NET's own words for a certificate it refused all name "certificate" ("The remote certificate is
            // invalid ...", "... rejected by the provided RemoteCertificateValidationCallback"). Were they translated,
            // the failure would still be permanent, only described as a handshake failure.
            return authentication.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase)
                ? Kind.ServerCertificate
                : Kind.TlsHandshake;
        }

        // Only a disposed client or handler throws ObjectDisposedException itself; one inside an IOException or an
        // HttpRequestException is about a single connection, an outage like a reset.
        return exception is ObjectDisposedException ? Kind.Disposed : Kind.Outage;
    }

    /// <summary>Whether the failure may pass by itself, so that a wait may retry it.</summary>
    public static bool IsTransient(Exception exception) => Classify(exception) == Kind.Outage;

    /// <summary>
    /// The exception a caller gets for <paramref name="exception"/>, which happened while asking Consul at
    /// <paramref name="address"/> to do <paramref name="what"/>.
    /// </summary>
    /// <param name="exception">What sending the request or reading its answer threw.</param>
    /// <param name="address">Consul's address.</param>
    /// <param name="what">What the request was for, such as "acquire the key 'x'".</param>
    /// <param name="key">The lock key concerned, when there is one.</param>
    /// <param name="timedOut">The request's own timeout, when it is what ended the request.</param>
    /// <param name="sendsClientCertificate">Whether the handler sends a client certificate; null when not known.</param>
    public static ConsulLockException ToException(
        Exception exception, Uri address, string what, string? key, TimeSpan? timedOut, bool? sendsClientCertificate)
    {
        if (timedOut is { } timeout)
        {
            return new ConsulLockException(
                $"Consul at {address} did not answer within {timeout.TotalSeconds:0.#} s when asked to {what}.", key, null, exception);
        }

        var message = Classify(exception) switch
        {
            Kind.ClientCertificate =>
                $"Consul at {address} refused this client's TLS certificate, so it could not be asked to {what} " +
                $"({ClientCertificateAlert(exception)}). " + sendsClientCertificate switch
                {
                    false => "No client certificate was sent, and Consul requires one (verify_incoming): set " +
                        "ConsulLockOptions.ClientCertificate to a certificate, with its private key, signed by the CA in Consul's ca_file.",
                    true => "Consul accepts only a client certificate signed by the CA in its ca_file, valid now and for client " +
                        "authentication: check ConsulLockOptions.ClientCertificate.",
                    null => "Consul requires a client certificate signed by the CA in its ca_file (verify_incoming): set " +
                        "ConsulLockOptions.ClientCertificate to one, with its private key.",
                },
            Kind.ServerCertificate =>
                $"The TLS handshake with Consul at {address} failed, so it could not be asked to {what}: Consul's server " +
                $"certificate was not accepted ({Find<AuthenticationException>(exception)!.Message}). Trust the certificate " +
                "authority that signed it, in this machine's trust store or by checking the chain against it in " +
                "ConsulLockOptions.ConfigureHttpHandler (ServerCertificateCustomValidationCallback), and use an address the certificate names.",
            Kind.TlsHandshake =>
                $"The TLS handshake with Consul at {address} failed, so it could not be asked to {what}: " +
                $"{Describe(Find<AuthenticationException>(exception)!)}. Check that the address is Consul's HTTPS port (an " +
                "https:// address on a plain HTTP port fails this way) and that both sides allow a common TLS version.",
            Kind.Disposed =>
                $"Consul at {address} could not be asked to {what}: the HTTP handler was disposed ({exception.Message}).",
            _ => $"Consul at {address} could not be reached to {what}: {Describe(exception)}",
        };
        return new ConsulLockException(message, key, null, exception);
    }

    /// <summary>The exception's message, and its innermost cause's when that says more (the socket error, the TLS alert).</summary>
    private static string Describe(Exception exception)
    {
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return innermost == exception || exception.Message.Contains(innermost.Message, StringComparison.Ordinal)
            ? exception.Message
            : $"{exception.Message} ({innermost.Message})";
    }

    private static string? ClientCertificateAlert(Exception exception)
    {
        for (var cause = exception; cause is not null; cause = cause.InnerException)
        {
            foreach (var alert in s_clientCertificateAlerts)
            {
                if (cause.Message.Contains(alert, StringComparison.OrdinalIgnoreCase))
                {
                    return cause.Message;
                }
            }
        }

        return null;
    }

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (var cause = exception; cause is not null; cause = cause.InnerException)
        {
            if (cause is T found)
            {
                return found;
            }
        }

        return null;
    }
}
