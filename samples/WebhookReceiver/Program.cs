using WebhookReceiver.Demo;
using WebhookReceiver.Receiver;
using WebhookReceiver.Contracts;

// `WebhookReceiver` runs the whole demo. `WebhookReceiver receiver <name> <consul> <store> <prefix> <start-ticks>`
// is one receiver instance; the demo starts three.
return args is ["receiver", var name, var consul, var store, var prefix, var startTicks]
    ? await ReceiverService.RunAsync(name, new Uri(consul), new Uri(store), prefix, new DemoClock(long.Parse(startTicks, System.Globalization.CultureInfo.InvariantCulture)))
    : await DemoRun.RunAsync();
