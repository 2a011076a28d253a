using WebhookReceiver.Demo;
using WebhookReceiver.Worker;

// `WebhookReceiver` runs the whole demo; `WebhookReceiver worker <name> <consul> <target> <prefix>` is one of the
// worker processes the demo starts.
return args is ["worker", var name, var consul, var target, var prefix]
    ? await WorkerProcess.RunAsync(name, new Uri(consul), new Uri(target), prefix)
    : await DemoRun.RunAsync();
