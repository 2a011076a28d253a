using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WebhookReceiver.Target;

/// <summary>How a call to the target ended.</summary>
public enum CallOutcome
{
    InFlight,
    Accepted,
    CancelledByCaller,
    RejectedStaleToken,
}

/// <summary>One call the target received, with times in seconds since the demo started.</summary>
public sealed record CallRecord(string Id, string Worker, int Delivery, ulong Token, string Session, double Start)
{
    public double End { get; set; }

    public CallOutcome Outcome { get; set; } = CallOutcome.InFlight;
}

/// <summary>
/// The downstream system the workers call: a small local HTTP server that takes a while per call, records every
/// call, and fences: a call whose token is lower than one it has already seen for the id is refused, at the start and
/// again before it takes effect.
/// </summary>
public sealed class WebhookTarget : IAsyncDisposable
{
    private static readonly TimeSpan s_workTime = TimeSpan.FromMilliseconds(250);
    private readonly WebApplication _app;
    private readonly Stopwatch _clock;
    private readonly ConcurrentDictionary<string, ulong> _highestToken = new();
    private readonly List<CallRecord> _calls = [];

    private WebhookTarget(WebApplication app, Stopwatch clock)
    {
        _app = app;
        _clock = clock;
        app.MapPost("/deliveries/{id}", HandleAsync);
    }

    /// <summary>Raised when a call arrives, before the target works on it.</summary>
    public event Action<CallRecord>? CallStarted;

    public Uri Address { get; private set; } = null!;

    public IReadOnlyList<CallRecord> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public static async Task<WebhookTarget> StartAsync(Stopwatch clock)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var target = new WebhookTarget(builder.Build(), clock);
        await target._app.StartAsync();
        var address = target._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        target.Address = new Uri(address + "/");
        return target;
    }

    private async Task<IResult> HandleAsync(string id, HttpContext context)
    {
        var headers = context.Request.Headers;
        var call = new CallRecord(
            id, headers["X-Worker"].ToString(), int.Parse(headers["X-Delivery"].ToString(), System.Globalization.CultureInfo.InvariantCulture),
            ulong.Parse(headers["X-Fencing-Token"].ToString(), System.Globalization.CultureInfo.InvariantCulture), headers["X-Session"].ToString(), Now());
        lock (_calls)
        {
            _calls.Add(call);
        }

        if (!TryFence(call))
        {
            return Finish(call, CallOutcome.RejectedStaleToken, Results.Conflict("stale fencing token"));
        }

        CallStarted?.Invoke(call);
        try
        {
            // The work: long enough for a lock loss to land while a call is in flight.
            await Task.Delay(s_workTime, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return Finish(call, CallOutcome.CancelledByCaller, Results.Empty);
        }

        // Before the work takes effect, fence again: a newer holder may have arrived meanwhile.
        return TryFence(call)
            ? Finish(call, CallOutcome.Accepted, Results.Ok())
            : Finish(call, CallOutcome.RejectedStaleToken, Results.Conflict("stale fencing token"));
    }

    private bool TryFence(CallRecord call)
    {
        var highest = _highestToken.AddOrUpdate(call.Id, call.Token, (_, seen) => Math.Max(seen, call.Token));
        return call.Token >= highest;
    }

    private IResult Finish(CallRecord call, CallOutcome outcome, IResult result)
    {
        lock (_calls)
        {
            call.End = Now();
            call.Outcome = outcome;
        }

        return result;
    }

    private double Now() => _clock.Elapsed.TotalSeconds;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
