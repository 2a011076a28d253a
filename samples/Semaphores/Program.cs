using ConsulLock.Aop;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Semaphores;

// One instance: `dotnet Semaphores.dll --Exports:Instance=a --Exports:Jobs=6 --Exports:Records=...` (CONSUL_HTTP_ADDR
// names the agent). Run several with the same Tenant and Records, then `dotnet Semaphores.dll verdict
// --Exports:Records=...` says whether at most 3 exports ran at once and every export ran.
if (args is ["verdict", .. var rest])
{
    var records = new ConfigurationBuilder().AddCommandLine(rest).Build()["Exports:Records"] ?? new ExportOptions().Records;
    return Verdict.Write(records, DatabaseExport.Limit, Console.Out);
}

// The content root is the program's folder, so its appsettings.json applies wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
var options = builder.Configuration.GetSection("Exports").Get<ExportOptions>() ?? new ExportOptions();
builder.Services.AddConsulLocking(builder.Configuration.GetSection("ConsulLock"));
builder.Services.AddSingleton(options);
builder.Services.AddSingleton<ExportLog>();
builder.Services.AddSingleton<DatabaseExport>();
builder.Services.AddHostedService<ExportService>();

using var host = builder.Build();
await host.RunAsync();
return Environment.ExitCode;
