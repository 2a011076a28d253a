using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Store;

/// <summary>What a receiver asked the store.</summary>
public enum StoreOpKind
{
    Check,
    Apply,
}

/// <summary>What the store answered.</summary>
public enum StoreOpResult
{
    Pending,
    NotApplied,
    AlreadyApplied,
    Applied,
    RefusedStale,

    /// <summary>The caller hung up before the store answered (its lock was lost and its call cancelled).</summary>
    Abandoned,
}

/// <summary>One request to the store, with times in seconds since the demo started.</summary>
public sealed record StoreOp(string EventId, string Receiver, ulong Token, string Session, StoreOpKind Kind, double Arrived)
{
    public double Decided { get; set; }

    public StoreOpResult Result { get; set; } = StoreOpResult.Pending;

    /// <summary>The highest token the store had seen for the event when it refused this one.</summary>
    public ulong HighestSeen { get; set; }
}

/// <summary>
/// The downstream store the receivers write to, a small HTTP service: "has event X been applied?" and "apply X" (the
/// effect and its record in one write). It fences: every request carries the lock's fencing token, and a token lower
/// than the highest the store has seen for that event is refused, so a receiver that lost its lock cannot write
/// after the next holder has been there. It does not deduplicate: each accepted apply counts. It records every
/// request; the verdict is read from that record.
/// </summary>
public sealed class EventStore : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DemoClock _clock;
    private readonly Lock _sync = new();
    private readonly List<StoreOp> _ops = [];
    private readonly Dictionary<string, ulong> _highest = [];
    private readonly Dictionary<string, int> _applied = [];
    private readonly Dictionary<string, TaskCompletionSource<StoreOp>> _appliedSignals = [];

    private EventStore(WebApplication app, DemoClock clock)
    {
        _app = app;
        _clock = clock;
        app.MapGet("/events/{id}", (string id, HttpContext context) => HandleAsync(id, StoreOpKind.Check, context));
        app.MapPost("/events/{id}/apply", (string id, HttpContext context) => HandleAsync(id, StoreOpKind.Apply, context));
    }

    /// <summary>
    /// Runs for each request after it is recorded and before the store decides it; the demo uses it to stage the
    /// lost-lock moments (hold a request while it destroys the caller's session). Null: decide at once.
    /// </summary>
    public Func<StoreOp, HttpContext, Task>? BeforeDecide { get; set; }

    public Uri Address { get; private set; } = null!;

    public IReadOnlyList<StoreOp> Ops
    {
        get
        {
            lock (_sync)
            {
                return [.. _ops];
            }
        }
    }

    /// <summary>How many accepted applies each event has had.</summary>
    public IReadOnlyDictionary<string, int> AppliedCounts
    {
        get
        {
            lock (_sync)
            {
                return new Dictionary<string, int>(_applied);
            }
        }
    }

    public static async Task<EventStore> StartAsync(DemoClock clock)
    {
        var store = new EventStore(Loopback.CreateBuilder().Build(), clock);
        await store._app.StartAsync();
        store.Address = Loopback.AddressOf(store._app);
        return store;
    }

    /// <summary>Completes when <paramref name="eventId"/> has been applied (by anyone).</summary>
    public Task<StoreOp> WhenAppliedAsync(string eventId)
    {
        lock (_sync)
        {
            return Signal(eventId).Task;
        }
    }

    private async Task<IResult> HandleAsync(string id, StoreOpKind kind, HttpContext context)
    {
        var query = context.Request.Query;
        if (!ulong.TryParse(query["token"], System.Globalization.CultureInfo.InvariantCulture, out var token))
        {
            return Results.BadRequest("a fencing token is required");
        }

        var op = new StoreOp(id, query["receiver"].ToString(), token, query["session"].ToString(), kind, _clock.Now);
        lock (_sync)
        {
            _ops.Add(op);
        }

        if (BeforeDecide is { } hook)
        {
            await hook(op, context);
        }

        lock (_sync)
        {
            op.Decided = _clock.Now;
            if (kind == StoreOpKind.Check && context.RequestAborted.IsCancellationRequested)
            {
                // A read nobody waits for any more changes nothing; a write that reached us is decided below anyway.
                op.Result = StoreOpResult.Abandoned;
                return Results.Empty;
            }

            var highest = _highest.GetValueOrDefault(id);
            if (token < highest)
            {
                op.Result = StoreOpResult.RefusedStale;
                op.HighestSeen = highest;
                return Results.Conflict($"stale fencing token {token}: {highest} has been seen for {id}");
            }

            _highest[id] = token;
            if (kind == StoreOpKind.Check)
            {
                var applied = _applied.GetValueOrDefault(id) > 0;
                op.Result = applied ? StoreOpResult.AlreadyApplied : StoreOpResult.NotApplied;
                return Results.Ok(new CheckAnswer(applied));
            }

            _applied[id] = _applied.GetValueOrDefault(id) + 1;
            op.Result = StoreOpResult.Applied;
            Signal(id).TrySetResult(op);
            return Results.Ok();
        }
    }

    private TaskCompletionSource<StoreOp> Signal(string eventId)
    {
        if (!_appliedSignals.TryGetValue(eventId, out var signal))
        {
            signal = new TaskCompletionSource<StoreOp>(TaskCreationOptions.RunContinuationsAsynchronously);
            _appliedSignals[eventId] = signal;
        }

        return signal;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
