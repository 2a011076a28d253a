using ConsulLock.Aop;
using LeaderJob;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

// Run several copies at once (CONSUL_HTTP_ADDR names the agent, --ConsulLock:InstanceName=a names the copy): one of
// them leads and schedules the reports, the others stand by and print who leads. Stop the leader (Ctrl+C, SIGTERM)
// and a standby leads within a round trip; kill it (SIGKILL) and a standby leads once Consul has given up its session
// (at most 2 x SessionTtl + LockDelay). `--LeaderJob:ReportsPerTerm=N` makes each term resign after N reports and
// the copy exit; `--LeaderJob:Campaign=false` only watches.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddConsulLocking(builder.Configuration.GetSection("ConsulLock"));
if (builder.Configuration.GetValue("LeaderJob:Campaign", true))
{
    builder.Services.AddHostedService<ReportScheduler>();
}

builder.Services.AddHostedService<LeaderWatch>();

// The library's traces and metrics: an ActivitySource and a Meter, both named "ConsulLock.Aop". Here they go to the
// console; in production, add the OTLP exporter instead. `--LeaderJob:Telemetry=false` turns this off.
if (builder.Configuration.GetValue("LeaderJob:Telemetry", true))
{
    builder.Services.AddOpenTelemetry()
        .ConfigureResource(resource => resource.AddService("leader-job"))
        .WithTracing(tracing => tracing.AddSource("ConsulLock.Aop").AddConsoleExporter())
        .WithMetrics(metrics => metrics.AddMeter("ConsulLock.Aop")
            // The durations are in seconds; OpenTelemetry's default buckets (0, 5, 10, 25, ... 10000) suit milliseconds.
            .AddView(instrument => instrument.Meter.Name == "ConsulLock.Aop" && instrument.Unit == "s"
                ? new ExplicitBucketHistogramConfiguration { Boundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] }
                : null)
            .AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5000));
}

using var host = builder.Build();

// OpenTelemetry's providers start with the host; resolve them now so the migration below is traced as well.
_ = host.Services.GetService<TracerProvider>();
_ = host.Services.GetService<MeterProvider>();

// The imperative API, for work that is not a method of its own: one instance migrates, the others wait for it.
var locks = host.Services.GetRequiredService<IConsulLockProvider>();
await using (var migration = await locks.AcquireAsync("schema-migration"))
{
    Console.WriteLine($"migrating the schema under '{migration.Key}' (fencing token {migration.FencingToken})");
}

await host.RunAsync();
