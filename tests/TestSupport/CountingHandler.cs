namespace ConsulLock.Aop.TestSupport;

/// <summary>An HTTP handler that counts the requests sent through it, and how many of them were reads (GET).</summary>
public sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private long _requests;
    private long _reads;

    public long Requests => Interlocked.Read(ref _requests);

    public long Reads => Interlocked.Read(ref _reads);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        if (request.Method == HttpMethod.Get)
        {
            Interlocked.Increment(ref _reads);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
