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
    public IList<string> SessionChecks => _sessionChecks;

    private List<string> _sessionChecks = [];

    /// <summary>The name Consul shows for the sessions. Default: <c>"ConsulLock.Aop"</c>.</summary>
    public string SessionName { get; set; } = "ConsulLock.Aop";

    /// <summary>
    /// How long a session that holds no lock any more is kept for reuse before it is destroyed. Default: 2 seconds.
    /// A caller that locks again within this time pays no session write; <see cref="TimeSpan.Zero"/> destroys at once.
    /// </summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long one request to Consul may take before it counts as failed (blocking queries get their wait on top).
    /// Default: 10 seconds. Session renewals use a shorter timeout of their own (TTL/8), so that several attempts fit
    /// in one TTL.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most connections the provider opens to Consul, at least 4. Default: 32, well under Consul's limit of 200
    /// per client address. Two are kept for session renewals, so that a renewal never waits behind other requests;
    /// half the rest carry blocking queries (watches of busy and held keys); the others carry locks, releases and
    /// reads. Keys beyond the watch connections are checked in batches of 64 every second instead of being watched.
    /// </summary>
    public int MaxConnections { get; set; } = 32;

    /// <summary>How often keys that have no watch connection of their own are checked. Tests shorten it.</summary>
    internal TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait of one blocking query (Consul caps it at 10 minutes). Tests shorten it.</summary>
    internal TimeSpan WatchWait { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long after a grant a held key's watch starts, when no watch runs on its folder yet (see
    /// <c>LockHandle.StartMonitoring</c>). Tests lengthen it to tell the two paths apart.
    /// </summary>
    internal TimeSpan HeldKeyWatchDelay { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>A client certificate for mutual TLS with an <c>https</c> address.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// Adjusts the HTTP handler, for example to trust a private certificate authority. Responses are not compressed
    /// by default (Consul would gzip even the smallest answer); set <c>AutomaticDecompression</c> here to ask for it.
    /// </summary>
    public Action<HttpClientHandler>? ConfigureHttpHandler { get; set; }

    /// <summary>A copy, so that changes the caller makes after handing the options over do not reach a running provider.</summary>
    internal ConsulLockOptions Clone()
    {
        var copy = (ConsulLockOptions)MemberwiseClone();
        copy._sessionChecks = [.. SessionChecks];
        return copy;
    }

    /// <summary>Checks the options before any network call; the messages never contain the token.</summary>
    internal void Validate()
    {
        if (Address is null || !Address.IsAbsoluteUri || (Address.Scheme != Uri.UriSchemeHttp && Address.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException(
                $"ConsulLockOptions.Address must be an absolute http:// or https:// address, not '{Address}'.", nameof(Address));
        }

        if (Token is not null && Token.Any(char.IsControl))
        {
            throw new ArgumentException("ConsulLockOptions.Token contains control characters.", nameof(Token));
        }

        ArgumentNullException.ThrowIfNull(KeyPrefix, nameof(KeyPrefix));
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "ConsulLockOptions.RequestTimeout must be above zero and at most 10 minutes.");
        }

        if (MaxConnections < 4)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "ConsulLockOptions.MaxConnections must be at least 4.");
        }

        ArgumentException.ThrowIfNullOrEmpty(SessionName, nameof(SessionName));
        if (SessionIdleTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(SessionIdleTimeout), SessionIdleTimeout, "The session idle timeout cannot be negative.");
        }

        new Engine.SessionSettings(SessionTtl, LockDelay, Behavior).Validate(nameof(ConsulLockOptions));
    }

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
