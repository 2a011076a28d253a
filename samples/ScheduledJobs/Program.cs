using ConsulLock.Aop;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quartz;
using ScheduledJobs;

// One instance: `dotnet ScheduledJobs.dll --ScheduledJobs:Instance=a --ScheduledJobs:ClockSkew=1.5 ...` (CONSUL_HTTP_ADDR
// names the agent). Run several with the same Cron, From and Records, then `dotnet ScheduledJobs.dll verdict
// --ScheduledJobs:Records=...` says whether every firing ran exactly once.
if (args is ["verdict", .. var rest])
{
    var records = new ConfigurationBuilder().AddCommandLine(rest).Build()["ScheduledJobs:Records"] ?? new ScheduleOptions().Records;
    return Verdict.Write(records, Console.Out);
}

// The content root is the program's folder, so its appsettings.json applies wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
var options = builder.Configuration.GetSection("ScheduledJobs").Get<ScheduleOptions>() ?? new ScheduleOptions();
var clock = new SkewedClock(TimeSpan.FromSeconds(options.ClockSkew));
var schedule = JobSchedule.Plan(options.Cron, options.From ?? clock.GetUtcNow(), options.Firings, clock);

builder.Services.AddConsulLocking(builder.Configuration.GetSection("ConsulLock"));
builder.Services.AddSingleton(options);
builder.Services.AddSingleton(schedule);
builder.Services.AddSingleton<RunLog>();
builder.Services.AddSingleton<JobWork>();
builder.Services.AddSingleton<FinishLine>();

// 1. A cron schedule in a BackgroundService (Cronos computes the occurrences).
builder.Services.AddSingleton<ReportJob>();
builder.Services.AddHostedService<ReportService>();

// 2. A Quartz.NET job on the same schedule, in an in-memory store of this instance's own: no database, no
//    clustering; the lock in Consul is what makes one instance run each firing.
builder.Services.AddQuartz(quartz =>
{
    quartz.UseTimeProvider(clock);
    quartz.UseInMemoryStore();
    var job = new JobKey(CleanupJob.Name);
    if (options.MinHold)
    {
        quartz.AddJob<CleanupJob>(j => j.WithIdentity(job));
    }
    else
    {
        quartz.AddJob<CleanupJobWithoutMinHold>(j => j.WithIdentity(job));
    }

    quartz.AddTrigger(trigger => trigger
        .ForJob(job)
        .WithCronSchedule(options.Cron, cron => cron.InTimeZone(TimeZoneInfo.Utc))
        .StartAt(schedule.First)
        .EndAt(schedule.Last));
    quartz.AddJobListener<FiringListener>();
});
builder.Services.AddQuartzHostedService(quartz => quartz.WaitForJobsToComplete = true);

using var host = builder.Build();
var log = host.Services.GetRequiredService<RunLog>();
log.Plan(ReportJob.Name, ReportJob.Scheduler, schedule, options.Instance);
log.Plan(CleanupJob.Name, CleanupJob.Scheduler, schedule, options.Instance);
await host.StartAsync();
if (clock.GetUtcNow() > schedule.First)
{
    Console.WriteLine($"[{options.Instance}] late: started after its first firing ({JobWork.TimeOf(schedule.First)} on its clock); give the instances a later ScheduledJobs:From");
}

Console.WriteLine(
    $"[{options.Instance}] ready: clock {options.ClockSkew:0.###} s behind; {schedule.Firings.Count} firings of '{schedule.Cron}' from {JobWork.TimeOf(schedule.First)}; " +
    $"runs of {options.JobLength:0.###} s; {(options.MinHold ? "MinHold 10s" : "WITHOUT MinHold")}");
await host.WaitForShutdownAsync();
return 0;
