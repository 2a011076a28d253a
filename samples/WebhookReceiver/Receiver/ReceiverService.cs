using ConsulLock.Aop;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Receiver;

/// <summary>
/// One instance of the webhook receiver: an ASP.NET Core minimal API on a loopback port. <c>POST /webhooks/{id}</c>
/// takes a delivery; 200 means the event is applied (now or before), 503 asks the sender to retry.
/// <c>GET /healthz</c> is the library's health check; <c>GET /report</c> and <c>POST /shutdown</c> are for the demo.
/// </summary>
public static class ReceiverService
{
    public static async Task<int> RunAsync(string name, Uri consul, Uri store, string prefix, DemoClock clock)
    {
        using var metrics = new LockMetrics();
        var builder = Loopback.CreateBuilder();
        builder.Services.AddConsulLocking(o =>
        {
            o.Address = consul;
            o.KeyPrefix = prefix;
        });
        builder.Services.AddSingleton(new HoldLog(name, clock));
        builder.Services.AddSingleton(new StoreClient(new HttpClient { BaseAddress = store }, name));
        builder.Services.AddSingleton<WebhookHandler>();
        builder.Services.AddHealthChecks().AddConsulLock();
        await using var app = builder.Build();

        var stopping = app.Lifetime.ApplicationStopping;
        app.MapPost("/webhooks/{id}", async (string id, WebhookHandler handler) =>
        {
            try
            {
                var outcome = await handler.HandleAsync(id, stopping);
                return outcome is HoldOutcome.Applied or HoldOutcome.Duplicate
                    ? Results.Text(outcome.ToString())
                    : Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
            }
            catch (Exception ex) when (ex is ConsulLockLostException or ConsulLockTimeoutException or HttpRequestException)
            {
                return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
            }
        });
        app.MapHealthChecks("/healthz");
        app.MapGet("/report", (HoldLog holds) => new ReceiverReport(name, holds.Snapshot(), metrics.WaitSeconds, metrics.AcquireSeconds));
        app.MapPost("/shutdown", (IHostApplicationLifetime lifetime) =>
        {
            lifetime.StopApplication();
            return Results.Ok();
        });

        await app.StartAsync();
        Console.WriteLine($"listening at {Loopback.AddressOf(app)}");
        await app.WaitForShutdownAsync();
        return 0;
    }
}
