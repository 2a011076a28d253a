using System.Globalization;
using System.Net;

namespace WebhookReceiver.Demo;

/// <summary>What the sender did, for the verdict.</summary>
public sealed record SendReport(int Events, int Deliveries, int ConcurrentDuplicates, int Retries, int Undelivered);

/// <summary>
/// Behaves like a webhook provider behind a load balancer: every event is delivered at least once, in random order;
/// some are delivered twice at the same moment to different receivers; a delivery that is not answered 2xx within a
/// short timeout is retried on another receiver.
/// </summary>
public sealed class Sender(IReadOnlyList<Uri> receivers, int seed)
{
    private const double DuplicateShare = 0.35;
    private const int InFlight = 12;
    private const int MaxAttempts = 8;
    private static readonly TimeSpan s_deliveryTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly HttpClient s_http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private int _deliveries;
    private int _retries;
    private int _undelivered;

    /// <summary>The events in the order the sender sends them.</summary>
    public static IReadOnlyList<string> Plan(int count, int seed)
    {
        var ids = Enumerable.Range(1, count).Select(i => "evt-" + i.ToString("0000", CultureInfo.InvariantCulture)).ToArray();
        new Random(seed).Shuffle(ids);
        return ids;
    }

    public async Task<SendReport> SendAsync(IReadOnlyList<string> events, CancellationToken cancellationToken)
    {
        // Every random choice is drawn up front from the seed, so a run can be repeated.
        var random = new Random(seed);
        var plan = events.Select(id =>
        {
            var first = random.Next(receivers.Count);
            int? second = random.NextDouble() < DuplicateShare ? (first + 1 + random.Next(receivers.Count - 1)) % receivers.Count : null;
            return (Id: id, First: first, Second: second);
        }).ToList();

        await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = InFlight, CancellationToken = cancellationToken }, async (item, ct) =>
        {
            var copies = item.Second is { } second ? new[] { item.First, second } : [item.First];
            var delivered = await Task.WhenAll(copies.Select(receiver => DeliverAsync(item.Id, receiver, ct)));
            if (!delivered.Any(d => d))
            {
                Interlocked.Increment(ref _undelivered);
            }
        });

        return new SendReport(events.Count, _deliveries, plan.Count(p => p.Second is not null), _retries, _undelivered);
    }

    private async Task<bool> DeliverAsync(string id, int receiver, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            Interlocked.Increment(ref _deliveries);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(s_deliveryTimeout);
            try
            {
                using var response = await s_http.PostAsync(new Uri(receivers[receiver], "webhooks/" + id), null, timeout.Token);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Timed out: like a provider, give up on this attempt and retry.
            }
            catch (HttpRequestException ex) when (ex.StatusCode is null or HttpStatusCode.ServiceUnavailable)
            {
            }

            if (attempt == MaxAttempts)
            {
                break;
            }

            // A provider's retry schedule (not synchronisation): wait a little, then try the next instance.
            Interlocked.Increment(ref _retries);
            await Task.Delay(s_retryDelay, cancellationToken);
            receiver = (receiver + 1) % receivers.Count;
        }

        return false;
    }
}
