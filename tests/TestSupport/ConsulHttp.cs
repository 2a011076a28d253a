using System.Net;
using System.Text;
using System.Text.Json;

namespace ConsulLock.Aop.TestSupport;

/// <summary>Plain HTTP calls the fixtures and tests make to Consul, independent of the library under test.</summary>
public static class ConsulHttp
{
    private static readonly HttpClient s_client = new() { Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<(HttpStatusCode Status, string Body)> SendAsync(
        HttpMethod method, Uri address, string pathAndQuery, string? body = null, string? token = null,
        CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, new Uri(address, pathAndQuery));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        if (token is not null)
        {
            request.Headers.Add("X-Consul-Token", token);
        }

        using var response = await s_client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Writes every key of <paramref name="keys"/> with the same value and flags, 64 to a transaction (Consul's
    /// limit), a few transactions at a time: fills a folder with tens of thousands of keys in seconds.
    /// </summary>
    public static async Task SetKeysAsync(
        Uri address, IEnumerable<string> keys, string value, ulong flags, CancellationToken cancellationToken = default)
    {
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        await Parallel.ForEachAsync(keys.Chunk(64), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (batch, ct) =>
        {
            var operations = batch.Select(key => new Dictionary<string, object>
            {
                ["KV"] = new Dictionary<string, object> { ["Verb"] = "set", ["Key"] = key, ["Value"] = encoded, ["Flags"] = flags },
            });
            var (status, body) = await SendAsync(HttpMethod.Put, address, "/v1/txn", JsonSerializer.Serialize(operations), cancellationToken: ct).ConfigureAwait(false);
            if (status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"Consul refused to set {batch.Length} keys: {(int)status} {body}");
            }
        }).ConfigureAwait(false);
    }

    /// <summary>The current leader's address as Consul reports it, or empty while there is none.</summary>
    public static async Task<string> LeaderAsync(Uri address, CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, address, "/v1/status/leader", cancellationToken: cancellationToken).ConfigureAwait(false);
        return status == HttpStatusCode.OK ? body.Trim().Trim('"') : "";
    }
}
