using ConsulLock.Aop;
using LeaderJob;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// Run several copies at once (CONSUL_HTTP_ADDR names the agent): each tick, one of them runs the report, the
// others skip it. `--runs N` ends after N ticks (the sample's test uses it).
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddConsulLocking(builder.Configuration.GetSection("ConsulLock"));
builder.Services.AddSingleton<NightlyReport>();
builder.Services.AddHostedService<ReportScheduler>();
using var host = builder.Build();

// The imperative API, for work that is not a method of its own: one instance migrates, the others wait for it.
var locks = host.Services.GetRequiredService<IConsulLockProvider>();
await using (var migration = await locks.AcquireAsync("schema-migration"))
{
    Console.WriteLine($"migrating the schema under '{migration.Key}' (fencing token {migration.FencingToken})");
}

await host.RunAsync();
