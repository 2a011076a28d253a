using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Keys;

/// <summary>
/// The fixed table of characters that <see cref="LockKey.EscapeSegment"/> keeps and <see cref="LockKey.Validate"/>
/// allows is exactly what the real agent accepts in a URL path: every code point of the table, and none of the others
/// of the Basic Multilingual Plane nor any neighbour of a range's ends elsewhere. When Consul's rules change, this test
/// names the code points that differ.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class ConsulPathCharactersTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private const int MaxCodePoint = 0x10FFFF;

    [Fact]
    public async Task Consul_accepts_every_code_point_of_the_table_and_refuses_the_others()
    {
        var accepted = Enumerable.Range(0, MaxCodePoint + 1).Where(ConsulPathCharacters.IsAccepted).ToArray();
        Assert.DoesNotContain(accepted, IsSurrogate);

        // Accepted: in batches of 64 code points per path (a 404 means Consul looked the key up; a 400 refused the path).
        var batches = accepted.Where(c => c != '/').Chunk(64).ToArray();
        var refusedBatches = new ConcurrentBag<int[]>();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (batch, ct) =>
        {
            if (!await AcceptsAsync(batch, ct))
            {
                refusedBatches.Add(batch);
            }
        });

        // Refused: every other code point of the BMP, and outside it each code point next to a range's first or last.
        var acceptedSet = accepted.ToHashSet();
        var outside = Enumerable.Range(0, 0x10000)
            .Concat(accepted.Where(c => c >= 0x10000).SelectMany(c => new[] { c - 1, c + 1 }))
            .Where(c => c <= MaxCodePoint && !IsSurrogate(c) && !acceptedSet.Contains(c))
            .Distinct()
            .ToArray();
        var wronglyAccepted = new ConcurrentBag<int>();
        await Parallel.ForEachAsync(outside, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (codePoint, ct) =>
        {
            if (await AcceptsAsync([codePoint], ct))
            {
                wronglyAccepted.Add(codePoint);
            }
        });

        output.WriteLine($"{accepted.Length} code points accepted in {batches.Length} paths; {outside.Length} others refused one by one");
        Assert.True(refusedBatches.IsEmpty, "Consul refused paths made of table code points: " + Describe(refusedBatches.SelectMany(b => b)));
        Assert.True(wronglyAccepted.IsEmpty, "Consul accepts code points missing from the table: " + Describe(wronglyAccepted));
    }

    [Fact]
    public async Task Consul_stores_an_unpaired_surrogate_of_a_transaction_as_U_FFFD_which_is_why_Validate_refuses_it()
    {
        var key = Prefix + "x\uD800";
        // Written by hand: JSON can carry the lone surrogate as an escape, whatever a client's serialiser would do.
        var body = "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"" + Prefix + "x\\uD800\",\"Value\":\"\"}}]";

        var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/txn", body);
        var (_, listed) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(Prefix) + "?keys");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([Prefix + "x\uFFFD"], JsonSerializer.Deserialize<string[]>(listed)!);
        Assert.Contains("unpaired surrogate", Assert.Throws<ArgumentException>(() => LockKey.Validate(key)).Message, StringComparison.Ordinal);
    }

    private async Task<bool> AcceptsAsync(IEnumerable<int> codePoints, CancellationToken cancellationToken)
    {
        var text = new StringBuilder("probe-");
        foreach (var codePoint in codePoints)
        {
            text.Append(char.ConvertFromUtf32(codePoint));
        }

        var (status, body) = await ConsulHttp.SendAsync(
            HttpMethod.Get, Agent.Address, "/v1/kv/" + Prefix + Uri.EscapeDataString(text.ToString()), cancellationToken: cancellationToken);
        Assert.True(status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"unexpected answer {status}: {body}");
        return status == HttpStatusCode.NotFound;
    }

    private static bool IsSurrogate(int codePoint) => codePoint is >= 0xD800 and <= 0xDFFF;

    private static string Describe(IEnumerable<int> codePoints)
    {
        var sorted = codePoints.Order().ToArray();
        return $"{sorted.Length}: " + string.Join(", ", sorted.Take(40).Select(c => $"U+{c:X4}")) + (sorted.Length > 40 ? ", ..." : "");
    }
}
