using System.Security.Cryptography.X509Certificates;

namespace ConsulLock.Aop;

/// <summary>Settings of a <c>ConsulLockProvider</c>.</summary>
public sealed class ConsulLockOptions
{
    /// <summary>The Consul HTTP API address. Default: <c>CONSUL_HTTP_ADDR</c>, else <c>http://127.0.0.1:8500</c>.</summary>
    public Uri Address { get; set; } = DefaultAddress();

    /// <summary>
    /// The ACL token, sent as <c>X-Consul-Token</c> and never logged. Default: <c>CONSUL_HTTP_TOKEN</c>, else none.
    /// </summary>
    public string? Token { get; set; } = NullIfEmpty(Environment.GetEnvironmentVariable("CONSUL_HTTP_TOKEN"));

    /// <summary>The datacenter; default: the agent's own.</summary>
    public string? Datacenter { get; set; }

    /// <summary>Put in front of every key, for example <c>"locks/my-service/"</c>. Default: empty.</summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>The session TTL, 10 seconds to 24 hours. Default: 15 seconds.</summary>
    public TimeSpan SessionTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Consul's lock-delay after a holder's session is invalidated, 0 to 60 seconds. Default: 15 seconds.</summary>
    public TimeSpan LockDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The behaviour of sessions whose request does not say. Default: <see cref="SessionBehavior.Release"/>.</summary>
    public SessionBehavior Behavior { get; set; } = SessionBehavior.Release;

    /// <summary>
    /// Health checks the sessions are bound to (Consul's session <c>Checks</c>); when one fails, Consul invalidates the
    /// session. Default: none, so sessions live by their TTL alone.
    /// </summary>
    public IList<string> SessionChecks { get; } = new List<string>();

    /// <summary>The name Consul shows for the sessions. Default: <c>"ConsulLock.Aop"</c>.</summary>
    public string SessionName { get; set; } = "ConsulLock.Aop";

    /// <summary>A client certificate for mutual TLS with an <c>https</c> address.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Adjusts the HTTP handler, for example to trust a private certificate authority.</summary>
    public Action<HttpClientHandler>? ConfigureHttpHandler { get; set; }

    private static Uri DefaultAddress()
    {
        var fromEnvironment = NullIfEmpty(Environment.GetEnvironmentVariable("CONSUL_HTTP_ADDR"));
        if (fromEnvironment is null)
        {
            return new Uri("http://127.0.0.1:8500");
        }

        // Consul's own tools accept "host:port" without a scheme.
        return fromEnvironment.Contains("://", StringComparison.Ordinal)
            ? new Uri(fromEnvironment)
            : new Uri("http://" + fromEnvironment);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
