using System.Collections.Concurrent;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// An HTTP handler that counts the requests sent through it, how many of them were reads (GET), and the response
/// body bytes received, and logs each request as "METHOD path?query".
/// </summary>
public sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private readonly ConcurrentQueue<string> _log = new();
    private long _requests;
    private long _reads;
    private long _responseBytes;

    public long Requests => Interlocked.Read(ref _requests);

    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Response body bytes received so far, as sent on the wire (the client asks for no compression).</summary>
    public long ResponseBytes => Interlocked.Read(ref _responseBytes);

    /// <summary>Every request so far, in the order sent.</summary>
    public IReadOnlyList<string> Log => [.. _log];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _log.Enqueue($"{request.Method} {request.RequestUri?.PathAndQuery}");
        Interlocked.Increment(ref _requests);
        if (request.Method == HttpMethod.Get)
        {
            Interlocked.Increment(ref _reads);
        }

        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        // Read the body here to count it, and hand the caller an equal buffered copy.
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _responseBytes, body.Length);
        var copy = new ByteArrayContent(body);
        foreach (var header in response.Content.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Content.Dispose();
        response.Content = copy;
        return response;
    }
}
