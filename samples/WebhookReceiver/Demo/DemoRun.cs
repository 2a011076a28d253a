using System.Globalization;
using WebhookReceiver.Contracts;
using WebhookReceiver.Store;

namespace WebhookReceiver.Demo;

/// <summary>
/// The whole demo: a Consul agent, the downstream store, three receiver processes, and a sender that delivers
/// 200 events at least once, duplicates and retries included. Twice a receiver's Consul session is destroyed in
/// the middle of a call. At the end, the verdict from the store's record, a text timeline and an HTML picture.
/// </summary>
public static class DemoRun
{
    private const int Receivers = 3;
    private const int Events = 200;
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(50);

    public static async Task<int> RunAsync()
    {
        var clock = DemoClock.StartNow();
        var console = new Lock();
        void Say(string text)
        {
            lock (console)
            {
                Console.WriteLine($"{clock.Now,7:0.000}s  {text}");
            }
        }

        Say("Starting Consul (or reusing the one at CONSUL_HTTP_ADDR)...");
        await using var consul = await LocalConsul.StartOrReuseAsync();
        Say($"Consul is at {consul.Address}{(consul.Started ? " (started for this demo)" : "")}.");

        await using var store = await EventStore.StartAsync(clock);
        Say($"The downstream store listens at {store.Address}; it refuses a fencing token lower than one it has seen for the event.");

        var seed = Environment.GetEnvironmentVariable("DEMO_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next(1000, 10000);
        var events = Sender.Plan(Events, seed);
        var moments = new LostLockMoments(consul, store, cancelled: events[Events / 5], refused: events[Events * 3 / 5], Say);
        store.BeforeDecide = moments.BeforeDecideAsync;

        var prefix = $"demo/{DateTime.UtcNow:yyyyMMddHHmmss}-{Environment.ProcessId}/";
        // DEMO_MISCONFIGURE=prefix-per-receiver gives each receiver a KeyPrefix of its own, a real configuration
        // mistake: its locks then exclude nobody else's, and the verdict must fail.
        var misconfigured = Environment.GetEnvironmentVariable("DEMO_MISCONFIGURE") == "prefix-per-receiver";
        if (misconfigured)
        {
            Say("MISCONFIGURED on purpose: each receiver locks under a key prefix of its own, so no lock excludes another receiver.");
        }

        var receivers = Enumerable.Range(1, Receivers)
            .Select(i => ReceiverProcess.Start($"receiver-{i}", consul.Address, store.Address, misconfigured ? $"{prefix}receiver-{i}/" : prefix, clock, Say)).ToList();
        var reports = new List<ReceiverReport>();
        SendReport sent;
        try
        {
            await Task.WhenAll(receivers.Select(r => r.WhenListeningAsync(s_limit)));
            Say($"{Receivers} receivers listen: {string.Join(", ", receivers.Select(r => $"{r.Name} at {r.Address}"))}.");
            Say($"Sending {Events} events in random order (seed {seed}; DEMO_SEED={seed} repeats it): about a third twice at once to two receivers, retried after a timeout or a 503.");

            using var timeout = new CancellationTokenSource(s_limit);
            sent = await new Sender(receivers.Select(r => r.Address).ToList(), seed).SendAsync(events, timeout.Token);
            Say($"All deliveries answered: {sent.Deliveries} sent, {sent.Retries} of them retries.");
            foreach (var receiver in receivers)
            {
                reports.Add(await receiver.ReportAsync());
                Say($"{receiver.Name} /healthz: {await receiver.HealthAsync()}");
            }

            await Task.WhenAll(receivers.Select(r => r.StopAsync(TimeSpan.FromSeconds(15))));
        }
        finally
        {
            foreach (var receiver in receivers)
            {
                receiver.Kill();
            }
        }

        var holds = reports.SelectMany(r => r.Holds).ToList();
        var ops = store.Ops;
        var verdict = Verdict.From(events, store.AppliedCounts, ops, holds, reports, sent, moments);
        Console.WriteLine();
        Console.WriteLine(Timeline.Render(moments.Highlights(holds), holds, ops));
        var page = TimelinePage.Write(events, holds, ops, moments);
        Console.WriteLine(verdict.Render());
        Console.WriteLine($"The picture of who held which key when: {page}");
        var exited = receivers.All(r => r.ExitCode == 0);
        foreach (var receiver in receivers)
        {
            receiver.Dispose();
        }

        Say($"Done in {clock.Now:0.0} s.");
        return verdict.Passed && exited ? 0 : 1;
    }
}
