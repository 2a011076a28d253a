using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using ConsulLock.Aop.Configuration;
using ConsulLock.Aop.Engine;
using Microsoft.Extensions.Configuration;

namespace ConsulLock.Aop;

/// <summary>Settings of a <c>ConsulLockProvider</c>.</summary>
public sealed class ConsulLockOptions
{
    internal static readonly TimeSpan MaxRequestTimeout = TimeSpan.FromMinutes(10);

    private static readonly Uri s_defaultAddress = new("http://127.0.0.1:8500");

    private Uri _address;

    // A text that could not be read as the address (from CONSUL_HTTP_ADDR or configuration), reported by validation
    // rather than thrown where it was read; setting Address clears it.
    private string? _unreadableAddress;

    // Configuration values that could not be read at all, by option, reported by validation; setting the option in
    // code clears its entry.
    private Dictionary<string, string> _unreadable = new(StringComparer.Ordinal);

    // Durations as written in configuration, so that errors quote "9s" rather than 00:00:09.
    private Dictionary<string, (string Text, TimeSpan Value)> _written = new(StringComparer.Ordinal);

    // The section each option was read from, so that errors name it as configuration does (ConsulLock:SessionTtl). An
    // option set in code since is named as the property (ConsulLockOptions.SessionTtl): that is where its value is.
    private Dictionary<string, string> _readFrom = new(StringComparer.Ordinal);

    private string? _token = NullIfEmpty(Environment.GetEnvironmentVariable("CONSUL_HTTP_TOKEN"));
    private string? _datacenter;
    private string _keyPrefix = "";
    private TimeSpan _sessionTtl = TimeSpan.FromSeconds(15);
    private TimeSpan _lockDelay = TimeSpan.FromSeconds(15);
    private SessionBehavior _behavior = SessionBehavior.Release;
    private string _sessionName = "ConsulLock.Aop";
    private string _instanceName = DefaultInstanceName();
    private TimeSpan _sessionIdleTimeout = TimeSpan.FromSeconds(2);
    private TimeSpan _requestTimeout = TimeSpan.FromSeconds(10);
    private int _maxConnections = 32;

    /// <summary>Creates options with the defaults; an unreadable <c>CONSUL_HTTP_ADDR</c> is reported when they are validated.</summary>
    public ConsulLockOptions()
    {
        var fromEnvironment = NullIfEmpty(Environment.GetEnvironmentVariable("CONSUL_HTTP_ADDR"));
        _address = s_defaultAddress;
        if (fromEnvironment is not null)
        {
            TrySetAddress(fromEnvironment, "CONSUL_HTTP_ADDR");
        }
    }

    /// <summary>
    /// The Consul HTTP API address, <c>http://</c> or <c>https://</c>. Default: <c>CONSUL_HTTP_ADDR</c> (<c>host:port</c>
    /// means <c>http://host:port</c>, as with Consul's own tools), else <c>http://127.0.0.1:8500</c>.
    /// </summary>
    public Uri Address
    {
        get => _address;
        set
        {
            _address = InCode(value);
            _unreadableAddress = null;
        }
    }

    /// <summary>
    /// The ACL token, sent as <c>X-Consul-Token</c> and never logged. Default: <c>CONSUL_HTTP_TOKEN</c>, else none.
    /// </summary>
    public string? Token { get => _token; set => _token = InCode(value); }

    /// <summary>The datacenter; default: the agent's own.</summary>
    public string? Datacenter { get => _datacenter; set => _datacenter = InCode(value); }

    /// <summary>
    /// The folder every key goes in, for example <c>"locks/my-service"</c>: the key <c>orders/7</c> becomes
    /// <c>locks/my-service/orders/7</c> (a trailing <c>/</c> is optional). Handles, contexts, exceptions and the
    /// in-memory provider all name the full key. No leading <c>/</c>, no <c>//</c>, <c>.</c> or <c>..</c> segment.
    /// Default: empty (keys as given).
    /// </summary>
    public string KeyPrefix { get => _keyPrefix; set => _keyPrefix = InCode(value); }

    /// <summary>The session TTL, 10 seconds to 24 hours. Default: 15 seconds.</summary>
    public TimeSpan SessionTtl { get => _sessionTtl; set => _sessionTtl = InCode(value); }

    /// <summary>Consul's lock-delay after a holder's session is invalidated, 0 to 60 seconds. Default: 15 seconds.</summary>
    public TimeSpan LockDelay { get => _lockDelay; set => _lockDelay = InCode(value); }

    /// <summary>The behaviour of sessions whose request does not say. Default: <see cref="SessionBehavior.Release"/>.</summary>
    public SessionBehavior Behavior { get => _behavior; set => _behavior = InCode(value); }

    /// <summary>
    /// Health checks the sessions are bound to (Consul's session <c>Checks</c>); when one fails, Consul invalidates the
    /// session. Default: none, so sessions live by their TTL alone.
    /// </summary>
    public IList<string> SessionChecks => _sessionChecks;

    private List<string> _sessionChecks = [];

    /// <summary>
    /// The name of the provider's sessions. Default: <c>"ConsulLock.Aop"</c>. Consul shows each session as this name
    /// followed by a short id of the attempt that created it (<c>"ConsulLock.Aop #1a2b3c4d"</c>): after a create whose
    /// answer was lost, the provider finds that session by its name and destroys it (listing sessions needs the ACL
    /// permission <c>session read</c>).
    /// </summary>
    public string SessionName { get => _sessionName; set => _sessionName = InCode(value); }

    /// <summary>
    /// How this process names itself to operators and to other instances: written into every lock key it holds (see
    /// <see cref="IConsulLockProvider.GetHolderAsync"/>) and named by other processes' "stuck wait" warnings. Printable
    /// text (no control characters), at most 128 UTF-8 bytes. Default: <c>"&lt;machine name&gt;/&lt;process id&gt;"</c>,
    /// for example <c>"web-3/4711"</c>; set it to something an operator recognises, such as a pod name.
    /// </summary>
    public string InstanceName { get => _instanceName; set => _instanceName = InCode(value); }

    /// <summary>
    /// How long a session that holds no lock any more is kept for reuse before it is destroyed. Default: 2 seconds.
    /// A caller that locks again within this time pays no session write; <see cref="TimeSpan.Zero"/> destroys at once.
    /// </summary>
    public TimeSpan SessionIdleTimeout { get => _sessionIdleTimeout; set => _sessionIdleTimeout = InCode(value); }

    /// <summary>
    /// How long one plain (non-blocking) request to Consul may take before it counts as failed and is retried as a
    /// transient error; a blocking query gets this on top of its wait. More than zero, at most 10 minutes.
    /// Default: 10 seconds.
    /// </summary>
    public TimeSpan RequestTimeout { get => _requestTimeout; set => _requestTimeout = InCode(value); }

    /// <summary>
    /// The most connections the provider opens to Consul, at least 4. Default: 32, well under Consul's limit of 200
    /// per client address. Two are kept for session renewals, so that a renewal never waits behind other requests;
    /// half the rest carry blocking queries (watches of busy and held keys); the others carry locks, releases and
    /// reads. Keys beyond the watch connections are checked in batches of 64 every second instead of being watched.
    /// </summary>
    public int MaxConnections { get => _maxConnections; set => _maxConnections = InCode(value); }

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

    /// <summary>
    /// Reads the options that <paramref name="configuration"/> sets (a section, for example
    /// <c>configuration.GetSection("ConsulLock")</c>) into these options, as
    /// <c>services.AddConsulLocking(section)</c> reads them: <c>Address</c>, <c>Token</c>, <c>Datacenter</c>,
    /// <c>KeyPrefix</c>, <c>SessionTtl</c>, <c>LockDelay</c>, <c>Behavior</c>, <c>SessionChecks</c> (a list),
    /// <c>SessionName</c>, <c>InstanceName</c>, <c>SessionIdleTimeout</c>, <c>RequestTimeout</c> and <c>MaxConnections</c>; options it does
    /// not set keep their values. Durations are read in Consul's notation (<c>"10s"</c>, <c>"250ms"</c>, <c>"1m30s"</c>)
    /// or as <c>"00:00:10"</c>. Use it where you would call .NET's binder (<c>section.Bind(options)</c>,
    /// <c>section.Get&lt;ConsulLockOptions&gt;()</c>), which reads a <see cref="TimeSpan"/> only as <c>"00:00:10"</c>.
    /// </summary>
    /// <remarks>
    /// A value that cannot be read does not throw here: like a value out of range, it is reported when the options are
    /// validated (by the provider's constructor, or when the host starts), named by its configuration path
    /// (<c>ConsulLock:SessionTtl = 'fifteen' is not a duration</c>). An option set in code after this is reported under
    /// its property name. Reflection-free, so it is safe to trim and to compile ahead of time.
    /// </remarks>
    /// <param name="configuration">The configuration section whose keys are the option names.</param>
    public void Bind(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ConsulLockOptionsBinder.Bind(configuration, this);
    }

    /// <summary>A copy, so that changes the caller makes after handing the options over do not reach a running provider.</summary>
    internal ConsulLockOptions Clone()
    {
        var copy = (ConsulLockOptions)MemberwiseClone();
        copy._sessionChecks = [.. SessionChecks];
        copy._unreadable = new(_unreadable, StringComparer.Ordinal);
        copy._written = new(_written, StringComparer.Ordinal);
        copy._readFrom = new(_readFrom, StringComparer.Ordinal);
        return copy;
    }

    /// <summary>
    /// Notes that configuration section <paramref name="sectionPath"/> set <paramref name="option"/> (call it after
    /// setting the property, whose setter forgets where the value came from).
    /// </summary>
    internal void MarkRead(string option, string sectionPath) => _readFrom[option] = sectionPath;

    /// <summary>How configuration names <paramref name="option"/> of the section at <paramref name="sectionPath"/>.</summary>
    internal static string ConfigurationName(string sectionPath, string option) =>
        sectionPath.Length == 0 ? option : sectionPath + ":" + option;

    /// <summary>Reads <paramref name="text"/> as the address; when it cannot, remembers why for validation.</summary>
    internal bool TrySetAddress(string text, string source)
    {
        // Consul's own tools accept "host:port" without a scheme.
        var withScheme = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
        if (Uri.TryCreate(withScheme, UriKind.Absolute, out var address) && IsHttp(address))
        {
            Address = address;
            return true;
        }

        _unreadableAddress = $"{source} = '{text}' is not an absolute http:// or https:// address such as http://127.0.0.1:8500";
        return false;
    }

    /// <summary>Remembers how a duration was written in configuration, to quote it in errors.</summary>
    internal void RememberWritten(string option, string text, TimeSpan value) => _written[option] = (text, value);

    /// <summary>
    /// Remembers a value of <paramref name="option"/> that configuration section <paramref name="sectionPath"/> gave
    /// and that could not be read, for validation to report; the option keeps its value.
    /// </summary>
    internal void AddUnreadable(string option, string sectionPath, string text, string expected) =>
        _unreadable[option] = $"{ConfigurationName(sectionPath, option)} = '{text}' is not {expected}";

    /// <summary>
    /// Everything wrong with the options, each naming the option and its bad value (never the token's); empty when
    /// they are good. Both <c>ValidateOnStart</c> and the providers' constructors report these.
    /// </summary>
    internal List<string> FindProblems()
    {
        var problems = new List<string>(_unreadable.Values);
        if (_unreadableAddress is not null)
        {
            problems.Add(_unreadableAddress);
        }
        else if (Address is null || !IsHttp(Address))
        {
            problems.Add($"{NameOf(nameof(Address))} = '{Address}' is not an absolute http:// or https:// address such as http://127.0.0.1:8500");
        }

        if (Token is not null && Token.Any(char.IsControl))
        {
            problems.Add($"{NameOf(nameof(Token))} contains control characters (the value is not shown)");
        }

        if (KeyPrefix is null)
        {
            problems.Add($"{NameOf(nameof(KeyPrefix))} is null; leave it empty for no prefix");
        }
        else if (KeyFolder.FindProblem(KeyPrefix) is { } prefixProblem)
        {
            problems.Add($"{NameOf(nameof(KeyPrefix))} = '{Shorten(KeyPrefix)}' is not a key folder: {prefixProblem}");
        }

        if (string.IsNullOrEmpty(SessionName))
        {
            problems.Add($"{NameOf(nameof(SessionName))} is empty");
        }

        if (InstanceNames.FindProblem(InstanceName) is { } instanceProblem)
        {
            problems.Add($"{NameOf(nameof(InstanceName))} {instanceProblem}");
        }

        if (SessionChecks.Any(string.IsNullOrEmpty))
        {
            problems.Add($"{NameOf(nameof(SessionChecks))} contains an empty check name");
        }

        CheckRange(problems, nameof(SessionTtl), SessionTtl, SessionSettings.MinTtl, SessionSettings.MaxTtl, "from 10s to 24h (Consul's limits)");
        CheckRange(problems, nameof(LockDelay), LockDelay, TimeSpan.Zero, SessionSettings.MaxLockDelay, "from 0s to 60s (Consul's limits)");
        CheckRange(problems, nameof(SessionIdleTimeout), SessionIdleTimeout, TimeSpan.Zero, TimeSpan.MaxValue, "0s or more");
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > MaxRequestTimeout)
        {
            problems.Add($"{NameOf(nameof(RequestTimeout))} = {Show(nameof(RequestTimeout), RequestTimeout)} is out of range: it must be more than 0s and at most 10m");
        }

        if (MaxConnections < 4)
        {
            problems.Add($"{NameOf(nameof(MaxConnections))} = {MaxConnections} is out of range: it must be 4 or more");
        }

        if (!Enum.IsDefined(Behavior))
        {
            problems.Add($"{NameOf(nameof(Behavior))} = {(int)Behavior} is not Release or Delete");
        }

        return problems;
    }

    /// <summary>Checks the options before any network call; the message names every problem and never the token.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    internal void Validate()
    {
        var problems = FindProblems();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid ConsulLock.Aop options: " + string.Join("; ", problems) + ".", "options");
        }
    }

    private void CheckRange(List<string> problems, string option, TimeSpan value, TimeSpan min, TimeSpan max, string range)
    {
        if (value < min || value > max)
        {
            problems.Add($"{NameOf(option)} = {Show(option, value)} is out of range: it must be {range}");
        }
    }

    /// <summary>How errors name <paramref name="option"/>: by its configuration path when configuration set it, else the property.</summary>
    internal string NameOf(string option) =>
        _readFrom.TryGetValue(option, out var sectionPath) ? ConfigurationName(sectionPath, option) : "ConsulLockOptions." + option;

    /// <summary>A property set (in code, or by the binder before it marks the option read): errors name the property.</summary>
    private T InCode<T>(T value, [CallerMemberName] string option = "")
    {
        _readFrom.Remove(option);
        _unreadable.Remove(option);
        return value;
    }

    private string Show(string option, TimeSpan value) =>
        _written.TryGetValue(option, out var written) && written.Value == value
            ? $"'{written.Text}'"
            : value.ToString("c", CultureInfo.InvariantCulture);

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";

    private static bool IsHttp(Uri address) =>
        address.IsAbsoluteUri && (address.Scheme == Uri.UriSchemeHttp || address.Scheme == Uri.UriSchemeHttps) && address.Host.Length > 0;

    private static string DefaultInstanceName() =>
        Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
