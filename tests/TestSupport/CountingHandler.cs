using System.Collections.Concurrent;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// An HTTP handler that counts the requests sent through it, how many of them were reads (GET), and logs each as
/// "METHOD path?query".
/// </summary>
public sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private readonly ConcurrentQueue<string> _log = new();
    private long _requests;
    private long _reads;

    public long Requests => Interlocked.Read(ref _requests);

    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Every request so far, in the order sent.</summary>
    public IReadOnlyList<string> Log => [.. _log];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _log.Enqueue($"{request.Method} {request.RequestUri?.PathAndQuery}");
        Interlocked.Increment(ref _requests);
        if (request.Method == HttpMethod.Get)
        {
            Interlocked.Increment(ref _reads);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
