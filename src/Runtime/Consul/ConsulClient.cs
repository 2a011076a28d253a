using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ConsulLock.Aop.Consul;

/// <summary>
/// The small part of Consul's HTTP API the engine uses: sessions, KV (with blocking queries) and transactions.
/// Every call has a timeout longer than its blocking wait, honours cancellation, and turns every failure into a
/// <see cref="ConsulLockException"/> that names what was being done and Consul's answer, never the ACL token.
/// </summary>
internal sealed class ConsulClient : IDisposable
{
    /// <summary>Flags of a key held by Consul's Go client <c>api.Lock</c>, which this library shares.</summary>
    public const ulong LockFlagValue = 0x2ddccbc058a50c18;

    /// <summary>Flags of a Go client <c>api.Semaphore</c> key.</summary>
    public const ulong SemaphoreFlagValue = 0xe0f69a2baa414de0;

    private readonly HttpClient _control;
    private readonly HttpClient _renewals;
    private readonly HttpClient _watches;
    private readonly List<HttpMessageHandler> _ownedHandlers = [];
    private readonly string? _token;
    private readonly string _datacenterQuery;
    private readonly bool? _sendsClientCertificate;
    private bool _disposed;
    private long _lastAnswerAt;
    private long _lastFailureAt;
    private ConsulLockException? _lastFailure;

    /// <summary>
    /// Creates the client with three connection pools that together stay within
    /// <see cref="ConsulLockOptions.MaxConnections"/>: renewals (2 connections, so that a renewal never queues behind
    /// anything), blocking queries (the watch budget, <see cref="WatchConnections"/>) and every other request.
    /// </summary>
    /// <param name="options">The provider's options.</param>
    /// <param name="transport">Tests only: one handler that every request goes through, instead of the three pools.</param>
    public ConsulClient(ConsulLockOptions options, HttpMessageHandler? transport = null)
    {
        Address = options.Address;
        RequestTimeout = options.RequestTimeout;
        _token = options.Token;
        _datacenterQuery = string.IsNullOrEmpty(options.Datacenter) ? "" : "dc=" + Uri.EscapeDataString(options.Datacenter);
        const int renewalConnections = 2;
        var rest = Math.Max(2, options.MaxConnections - renewalConnections);
        WatchConnections = Math.Max(1, rest / 2);
        var controlConnections = Math.Max(1, rest - WatchConnections);
        _renewals = NewHttpClient(options, renewalConnections, transport);
        _watches = NewHttpClient(options, WatchConnections, transport);
        _control = NewHttpClient(options, controlConnections, transport);
        _sendsClientCertificate = transport is null ? SendsClientCertificate((HttpClientHandler)_ownedHandlers[0]) : null;
        _lastAnswerAt = Stopwatch.GetTimestamp();
    }

    /// <summary>How long a plain (non-blocking) request may take: <see cref="ConsulLockOptions.RequestTimeout"/>.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>How many blocking queries may be open at once: the size of the watch pool.</summary>
    public int WatchConnections { get; }

    /// <summary>Time since Consul last answered any request (an error status counts: Consul was there).</summary>
    public TimeSpan SinceLastAnswer => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAnswerAt));

    /// <summary>
    /// The last request that got no answer from Consul or a transient error (429, 5xx), when it failed after
    /// <paramref name="timestamp"/> and no other answer came since.
    /// </summary>
    public ConsulLockException? FailingSince(long timestamp) =>
        Volatile.Read(ref _lastFailureAt) is var failedAt && failedAt > timestamp && failedAt > Volatile.Read(ref _lastAnswerAt)
            ? Volatile.Read(ref _lastFailure)
            : null;

    public Uri Address { get; }

    public async Task<string> CreateSessionAsync(SessionCreateRequest body, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(body, ConsulJsonContext.Default.SessionCreateRequest);
        var response = await SendAsync(_control, HttpMethod.Put, "/v1/session/create", json, RequestTimeout, "create a session", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "create a session", null);
        var created = Parse(response, ConsulJsonContext.Default.SessionCreateResponse, "create a session", null);
        return string.IsNullOrEmpty(created?.ID)
            ? throw new ConsulLockException("Consul's answer to create a session holds no session id.", null, (int)response.Status, null)
            : created.ID;
    }

    /// <summary>Renews a session on the renewal pool; false when Consul no longer knows it.</summary>
    public async Task<bool> RenewSessionAsync(string sessionId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_renewals, HttpMethod.Put, "/v1/session/renew/" + sessionId, "", timeout, "renew a session", null, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return false;
        }

        EnsureSuccess(response, "renew a session", null);
        return true;
    }

    public async Task DestroySessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Put, "/v1/session/destroy/" + sessionId, "", RequestTimeout, "destroy a session", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "destroy a session", null);
    }

    /// <summary>
    /// Whether Consul knows the session, by a consistent read (<c>/v1/session/info?consistent</c> answers an empty list
    /// for one it does not): the leader answers only once it has applied its log, unlike a renewal, which a leader
    /// just elected may answer "not found" from a state that is behind.
    /// </summary>
    public async Task<bool> SessionExistsAsync(string sessionId, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Get, "/v1/session/info/" + sessionId + "?consistent", null, RequestTimeout, "read a session", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "read a session", null);
        return Parse(response, ConsulJsonContext.Default.ListSessionEntry, "read a session", null) is { Count: > 0 };
    }

    /// <summary>Reads one session (<c>/v1/session/info</c>); null when Consul does not know it (any more).</summary>
    public async Task<SessionEntry?> ReadSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Get, "/v1/session/info/" + Uri.EscapeDataString(sessionId), null, RequestTimeout, "read a session", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "read a session", null);
        return Parse(response, ConsulJsonContext.Default.ListSessionEntry, "read a session", null) is { Count: > 0 } found ? found[0] : null;
    }

    public async Task<IReadOnlyList<SessionEntry>> ListSessionsAsync(CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Get, "/v1/session/list", null, RequestTimeout, "list sessions", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "list sessions", null);
        return Parse(response, ConsulJsonContext.Default.ListSessionEntry, "list sessions", null) ?? [];
    }

    /// <summary>
    /// Reads a key, or every key under a prefix with <paramref name="recurse"/>. With <paramref name="index"/> above
    /// zero it is a blocking query that returns when the data changes past that index or after <paramref name="wait"/>.
    /// </summary>
    public async Task<KvQueryResult> GetKeyAsync(
        string key, bool recurse, ulong index, TimeSpan wait, bool consistent, CancellationToken cancellationToken)
    {
        var query = new StringBuilder();
        if (recurse)
        {
            query.Append("recurse&");
        }

        if (consistent)
        {
            query.Append("consistent&");
        }

        var timeout = RequestTimeout;
        var pool = _control;
        if (index > 0)
        {
            pool = _watches;
            query.Append(CultureInfo.InvariantCulture, $"index={index}&wait={(long)wait.TotalMilliseconds}ms&");
            // Consul adds up to wait/16 of jitter to a blocking query.
            timeout += wait + wait / 16;
        }

        var what = recurse ? $"read the keys under '{key}'" : $"read the key '{key}'";
        var response = await SendAsync(pool, HttpMethod.Get, "/v1/kv/" + EscapePath(key) + "?" + query.ToString().TrimEnd('&'), null, timeout, what, key, cancellationToken).ConfigureAwait(false);
        var consulIndex = response.Index;
        if (response.Status == HttpStatusCode.NotFound)
        {
            return new KvQueryResult([], consulIndex);
        }

        EnsureSuccess(response, what, key);
        return new KvQueryResult(Parse(response, ConsulJsonContext.Default.ListKvEntry, what, key) ?? [], consulIndex);
    }

    /// <summary>Reads one key now (no blocking): its entry, null when absent, and Consul's index of the answer.</summary>
    public async Task<(KvEntry? Entry, ulong Index)> ReadKeyAsync(string key, CancellationToken cancellationToken, bool consistent = false)
    {
        var read = await GetKeyAsync(key, recurse: false, 0, default, consistent, cancellationToken).ConfigureAwait(false);
        return (read.Entries.FirstOrDefault(e => e.Key == key), read.Index);
    }

    /// <summary>Plain <c>?acquire=</c>, as Consul's Go client does it; the benchmarks' floor.</summary>
    public Task<bool> AcquireAsync(string key, string sessionId, ulong flags, CancellationToken cancellationToken) =>
        PutForBoolAsync(key, $"acquire={sessionId}&flags={flags}", "", $"acquire the key '{key}'", cancellationToken);

    /// <summary>Plain <c>?release=</c>.</summary>
    public Task<bool> ReleaseAsync(string key, string sessionId, ulong flags, CancellationToken cancellationToken) =>
        PutForBoolAsync(key, $"release={sessionId}&flags={flags}", "", $"release the key '{key}'", cancellationToken);

    /// <summary>
    /// Runs a transaction. Returns its results when it committed, or its errors when Consul rolled it back (409):
    /// a failed check or a lock held by another session is an answer, not an exception.
    /// </summary>
    public async Task<TxnResponse> TransactAsync(List<TxnOperation> operations, string key, string what, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(operations, ConsulJsonContext.Default.ListTxnOperation);
        var response = await SendAsync(_control, HttpMethod.Put, "/v1/txn", json, RequestTimeout, what, key, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.Conflict)
        {
            EnsureSuccess(response, what, key);
        }

        var answer = Parse(response, ConsulJsonContext.Default.TxnResponse, what, key)
            ?? throw new ConsulLockException($"Consul's answer to {what} is empty.", key, (int)response.Status, null);
        if (response.Status == HttpStatusCode.Conflict && answer.Errors is not { Count: > 0 })
        {
            throw new ConsulLockException($"Consul rolled back the transaction to {what} without saying why.", key, (int)response.Status, null);
        }

        return answer;
    }

    /// <summary>Whether Consul names a leader: the cheapest proof that it answers and can serve writes.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Get, "/v1/status/leader", null, RequestTimeout, "name its leader", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "name its leader", null);
        return Encoding.UTF8.GetString(response.Body).Trim().Trim('"').Length > 0;
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        _control.Dispose();
        _renewals.Dispose();
        _watches.Dispose();
        foreach (var handler in _ownedHandlers)
        {
            handler.Dispose();
        }
    }

    /// <summary>
    /// Whether a failure may pass by itself, so that a wait may retry it: no answer (refused, reset, timed out, any
    /// unexpected exception from the transport), 429, or a 5xx such as 500 "No cluster leader" and 503. A 4xx answer
    /// (ACL, bad request), a malformed answer, and a TLS set-up that cannot work (a certificate refused on either side;
    /// <see cref="TransportFailure"/> decides) are permanent. A failure that wraps another <see cref="ConsulLockException"/>
    /// is the engine's verdict after retrying, not a transport failure, so it is permanent too.
    /// </summary>
    public static bool IsTransient(ConsulLockException exception) =>
        exception.GetType() == typeof(ConsulLockException)
        && (exception.StatusCode is 429 or >= 500
            || (exception.StatusCode is null
                && exception.InnerException is { } cause and not ConsulLockException
                && TransportFailure.IsTransient(cause)));

    internal static string EscapePath(string key) =>
        string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    private HttpClient NewHttpClient(ConsulLockOptions options, int connections, HttpMessageHandler? transport)
    {
        if (transport is not null)
        {
            return new HttpClient(transport, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        }

        var handler = CreateHandler(options);
        handler.MaxConnectionsPerServer = connections;
        _ownedHandlers.Add(handler);
        // Each request carries its own timeout (longer than its blocking wait); the client-wide one must not cut in.
        return new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private static HttpClientHandler CreateHandler(ConsulLockOptions options)
    {
        // No Accept-Encoding: Consul would gzip even a 200-byte answer, costing CPU on both sides of every lock request
        // for a few bytes saved. A deployment that reads large folders over a slow link can turn it on in the hook.
        var handler = new HttpClientHandler();
        if (options.ClientCertificate is not null)
        {
            handler.ClientCertificateOptions = ClientCertificateOption.Manual;
            handler.ClientCertificates.Add(options.ClientCertificate);
        }

        options.ConfigureHttpHandler?.Invoke(handler);
        return handler;
    }

    /// <summary>Whether the handler sends a client certificate, for the message when Consul refuses one; null when it picks one itself.</summary>
    private static bool? SendsClientCertificate(HttpClientHandler handler) =>
        handler.ClientCertificateOptions == ClientCertificateOption.Manual ? handler.ClientCertificates.Count > 0 : null;

    private async Task<bool> PutForBoolAsync(string key, string query, string body, string what, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Put, "/v1/kv/" + EscapePath(key) + "?" + query, body, RequestTimeout, what, key, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, what, key);
        return ParseBool(response, what, key);
    }

    private async Task<ConsulResponse> SendAsync(
        HttpClient http, HttpMethod method, string pathAndQuery, string? body, TimeSpan timeout, string what, string? key, CancellationToken cancellationToken)
    {
        if (_datacenterQuery.Length > 0)
        {
            pathAndQuery += (pathAndQuery.Contains('?', StringComparison.Ordinal) ? "&" : "?") + _datacenterQuery;
        }

        using var request = new HttpRequestMessage(method, new Uri(Address, pathAndQuery));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        if (_token is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Consul-Token", _token);
        }

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeoutSource.Token).ConfigureAwait(false);
            var content = await response.Content.ReadAsByteArrayAsync(timeoutSource.Token).ConfigureAwait(false);
            ulong index = 0;
            if (response.Headers.TryGetValues("X-Consul-Index", out var values))
            {
                _ = ulong.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out index);
            }

            Volatile.Write(ref _lastAnswerAt, Stopwatch.GetTimestamp());
            return new ConsulResponse(response.StatusCode, content, index);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            // The caller cancelled and the transport reported the abort its own way (a reset, a disposed stream).
            throw new OperationCanceledException($"The request to {what} was cancelled.", ex, cancellationToken);
        }
        catch (ObjectDisposedException) when (Volatile.Read(ref _disposed))
        {
            // This client was disposed (the provider is going away): the engine and the health check expect that as is.
            throw;
        }
        catch (Exception ex)
        {
            // Any other exception from sending the request or reading its answer, whatever its type: see TransportFailure.
            throw Failed(TransportFailure.ToException(
                ex, Address, what, key, timeoutSource.IsCancellationRequested ? timeout : null, _sendsClientCertificate));
        }
    }

    private ConsulLockException Failed(ConsulLockException exception)
    {
        Volatile.Write(ref _lastFailure, exception);
        Volatile.Write(ref _lastFailureAt, Stopwatch.GetTimestamp());
        return exception;
    }

    private void EnsureSuccess(ConsulResponse response, string what, string? key)
    {
        if ((int)response.Status is >= 200 and < 300)
        {
            return;
        }

        var detail = Shorten(Encoding.UTF8.GetString(response.Body).Trim());
        var status = (int)response.Status;
        var hint = response.Status == HttpStatusCode.Forbidden
            ? " The ACL token lacks a permission: locks need 'key' write on the lock keys and 'session' write."
            : "";
        var refused = new ConsulLockException(
            $"Consul at {Address} refused to {what}: {status} {ReasonOf(response.Status)}{(detail.Length > 0 ? " (" + detail + ")" : "")}.{hint}",
            key, status, null);
        // A transient refusal (429, 5xx such as 500 "No cluster leader") is Consul failing as much as no answer is: a
        // wait that ends meanwhile must say so, not blame a holder.
        throw status is 429 or >= 500 ? Failed(refused) : refused;
    }

    private T? Parse<T>(ConsulResponse response, JsonTypeInfo<T> type, string what, string? key)
    {
        try
        {
            return JsonSerializer.Deserialize(response.Body, type);
        }
        catch (JsonException ex)
        {
            throw new ConsulLockException(
                $"Consul at {Address} answered the request to {what} with malformed JSON: {Shorten(Encoding.UTF8.GetString(response.Body))}",
                key, (int)response.Status, ex);
        }
    }

    private bool ParseBool(ConsulResponse response, string what, string? key)
    {
        var text = Encoding.UTF8.GetString(response.Body).Trim();
        return text switch
        {
            "true" => true,
            "false" => false,
            _ => throw new ConsulLockException($"Consul at {Address} answered the request to {what} with '{Shorten(text)}' instead of true or false.", key, (int)response.Status, null),
        };
    }

    private static string ReasonOf(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.BadRequest => "Bad Request",
        HttpStatusCode.InternalServerError => "Internal Server Error",
        HttpStatusCode.ServiceUnavailable => "Service Unavailable",
        HttpStatusCode.TooManyRequests => "Too Many Requests",
        _ => status.ToString(),
    };

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";

    private readonly record struct ConsulResponse(HttpStatusCode Status, byte[] Body, ulong Index);

    /// <summary>
    /// The sessions named <paramref name="name"/>, read consistently (the leader confirms its leadership first): how
    /// the engine finds a session whose create answer was lost. Needs <c>session read</c> (the README's policy grants
    /// it with <c>session_prefix "" { policy = "write" }</c>); without it Consul filters the list instead of refusing.
    /// </summary>
    public async Task<IReadOnlyList<SessionEntry>> ListSessionsNamedAsync(string name, CancellationToken cancellationToken)
    {
        var response = await SendAsync(_control, HttpMethod.Get, "/v1/session/list?consistent", null, RequestTimeout, "list sessions", null, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, "list sessions", null);
        return (Parse(response, ConsulJsonContext.Default.ListSessionEntry, "list sessions", null) ?? []).Where(s => s.Name == name).ToList();
    }
}

/// <summary>The entries a KV read returned, and Consul's index to block on for the next change.</summary>
internal readonly record struct KvQueryResult(IReadOnlyList<KvEntry> Entries, ulong Index);
