using ConsulLock.Aop;

namespace WebhookReceiver.Worker;

/// <summary>One instance of the service: it receives the same deliveries as its peers and handles each under the lock.</summary>
public static class WorkerProcess
{
    /// <summary>The stream every worker receives: a few deliveries for each of a handful of ids.</summary>
    public static readonly string[] Ids = ["order-1", "order-2", "order-3"];

    public const int DeliveriesPerId = 4;

    public static async Task<int> RunAsync(string name, Uri consul, Uri target, string prefix)
    {
        await using var locks = new ConsulLockProvider(new ConsulLockOptions { Address = consul, KeyPrefix = prefix, SessionTtl = TimeSpan.FromSeconds(10) });
        using var http = new HttpClient { BaseAddress = target };
        var handler = new DeliveryHandler(locks, http, name);

        // Ids are independent: handle them side by side, each id's deliveries in order.
        await Task.WhenAll(Ids.Select(async id =>
        {
            for (var delivery = 1; delivery <= DeliveriesPerId; delivery++)
            {
                try
                {
                    var status = await handler.HandleAsync(id, delivery, CancellationToken.None);
                    Console.WriteLine($"handled {id} delivery {delivery} (target answered {status})");
                }
                catch (ConsulLockLostException lost)
                {
                    Console.WriteLine($"LOST the lock on {id} during delivery {delivery} ({lost.Message}); the outgoing call was cancelled");
                }
            }
        }));
        return 0;
    }
}
