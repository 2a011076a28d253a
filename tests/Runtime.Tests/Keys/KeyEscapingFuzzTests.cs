using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Keys;

/// <summary>
/// Generated segments (control, format, unassigned and too-new characters, lone and paired surrogates, slashes and
/// their look-alikes, percent signs, dots, long strings): their escaping keeps its promises, and a real agent keeps
/// every escaped key byte for byte through its URL API, its transaction API and its key listing.
/// <c>CONSULLOCK_KEY_FUZZ_SEED</c> replays a run (the seed is printed); <c>CONSULLOCK_KEY_FUZZ_COUNT</c> asks for more
/// segments through the agent (the local checks take twelve times as many).
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class KeyEscapingFuzzTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    private const int DefaultCount = 25000;
    private const int LocalFactor = 12;
    private const int ThroughProvider = 60;
    private const int TransactionKeys = 32; // two operations per key; Consul allows 64 per transaction

    [Fact]
    public void The_escaping_keeps_its_promises_for_generated_segments()
    {
        var (seed, count) = Settings();
        var random = new Random(seed);
        var segments = Enumerable.Range(0, count * LocalFactor).Select(_ => SegmentGenerator.Next(random)).Distinct(StringComparer.Ordinal).ToArray();
        var escapedSeen = new Dictionary<string, string>(StringComparer.Ordinal);
        var stats = new int[4]; // escaped differently from the input, contained a lone surrogate, over the length limit, pairs kept raw

        foreach (var segment in segments)
        {
            var escaped = LockKey.EscapeSegment(segment);
            var context = $"seed {seed}, segment {Show(segment)} -> {Show(escaped)}";

            Assert.True(escaped.Length > 0, context);
            Assert.DoesNotContain('/', escaped);
            Assert.True(OnlyCharactersConsulKeeps(escaped), context);
            Assert.False(escaped is "." or "..", context);
            Assert.True(escaped.Length <= 9 * segment.Length, context); // a lone surrogate, the worst case, takes 9
            Assert.Equal(segment, PercentDecoder.Decode(escaped)); // decodable back, so one-to-one
            Assert.True(escapedSeen.TryAdd(escaped, segment), $"{context} collides with {Show(escapedSeen.GetValueOrDefault(escaped) ?? "")}");
            Assert.Equal(escaped, LockKey.EscapeSegment(segment)); // a pure function of the value
            if (LockKey.FindProblem("w/" + escaped) is { } problem)
            {
                // Only the length may be wrong with an escaped segment; every character is one Consul keeps.
                Assert.True(Encoding.UTF8.GetByteCount("w/" + escaped) > LockKey.MaxLengthInBytes, $"{context}: {problem}");
                Assert.Contains("allowed", problem, StringComparison.Ordinal);
                stats[2]++;
            }

            stats[0] += escaped == segment ? 0 : 1;
            stats[1] += segment.Any(char.IsSurrogate) && escaped.Contains("%ED%", StringComparison.Ordinal) ? 1 : 0;
            stats[3] += escaped.Any(char.IsSurrogate) ? 1 : 0;
        }

        output.WriteLine($"seed {seed}: {segments.Length} distinct segments; {stats[0]} changed by escaping, {stats[1]} with lone surrogates, "
            + $"{stats[3]} keep paired surrogates raw, {stats[2]} over {LockKey.MaxLengthInBytes} bytes (refused for length only)");
        Assert.All(new[] { stats[0], stats[1], stats[2], stats[3] }, n => Assert.True(n > 0, $"seed {seed}: the generator missed a case: {string.Join(",", stats)}"));
    }

    [Fact]
    public async Task A_real_agent_keeps_every_escaped_segment_byte_for_byte_through_its_URL_and_transaction_APIs()
    {
        var (seed, count) = Settings();
        var random = new Random(seed);
        var folder = Prefix + "fuzz/";
        var keys = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (keys.Count < count)
        {
            var key = folder + LockKey.EscapeSegment(SegmentGenerator.Next(random));
            if (LockKey.FindProblem(key) is null && seen.Add(key))
            {
                keys.Add(key);
            }
        }

        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 4 };

        // URL API: write each key, then read it back by its exact name.
        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(keys.Select((key, index) => (key, index)), parallel, async (item, ct) =>
        {
            var path = "/v1/kv/" + ConsulClient.EscapePath(item.key);
            var (put, putBody) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, path, Value(item.index), cancellationToken: ct);
            var (get, getBody) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, path, cancellationToken: ct);
            var entry = get == HttpStatusCode.OK ? JsonDocument.Parse(getBody).RootElement[0] : default;
            if (put != HttpStatusCode.OK || putBody.Trim() != "true" || get != HttpStatusCode.OK
                || entry.GetProperty("Key").GetString() != item.key
                || Encoding.UTF8.GetString(Convert.FromBase64String(entry.GetProperty("Value").GetString()!)) != Value(item.index))
            {
                failures.Add($"{Show(item.key)}: PUT {(int)put}, GET {(int)get}");
            }
        });
        Assert.True(failures.IsEmpty, $"seed {seed}: {failures.Count} of {keys.Count} keys refused or not kept under their exact name, e.g. "
            + string.Join("; ", failures.Take(3)));
        var urlTime = clock.Elapsed;

        // Listing: the stored names are exactly the escaped strings, no more, no fewer.
        var (listStatus, listBody) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(folder) + "?keys");
        Assert.Equal(HttpStatusCode.OK, listStatus);
        var listed = JsonSerializer.Deserialize<string[]>(listBody)!;
        Assert.True(keys.ToHashSet(StringComparer.Ordinal).SetEquals(listed), $"seed {seed}: the listing differs: missing "
            + string.Join(", ", keys.Except(listed, StringComparer.Ordinal).Take(5).Select(Show)) + "; unexpected "
            + string.Join(", ", listed.Except(keys, StringComparer.Ordinal).Take(5).Select(Show)));

        // Transaction API: lock and get, then unlock and get, naming each key in a JSON body.
        var (_, created) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/session/create", "{\"TTL\":\"60s\",\"LockDelay\":\"0s\"}");
        var session = JsonDocument.Parse(created).RootElement.GetProperty("ID").GetString()!;
        try
        {
            await Parallel.ForEachAsync(keys.Chunk(TransactionKeys), parallel, async (chunk, ct) =>
            {
                await TransactAsync(chunk, "lock", session, expectedSession: session, seed, ct);
                await TransactAsync(chunk, "unlock", session, expectedSession: null, seed, ct);
            });
        }
        finally
        {
            await PutAsync("/v1/session/destroy/" + session);
        }

        var txnTime = clock.Elapsed - urlTime;

        // The library's own paths (URL reads and transaction writes of the engine) on some of them, as locks now.
        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(folder) + "?recurse");
        var provider = NewProvider(o => o.KeyPrefix = "");
        foreach (var key in keys.Take(ThroughProvider))
        {
            await using var handle = await provider.AcquireAsync(key).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(key));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(handle.SessionId, JsonDocument.Parse(body).RootElement[0].GetProperty("Session").GetString());
            Assert.False(handle.LostToken.IsCancellationRequested, $"seed {seed}: lost {Show(key)}");
        }

        await ConsulHttp.SendAsync(HttpMethod.Delete, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(folder) + "?recurse");
        output.WriteLine($"seed {seed}: {keys.Count} escaped keys through a real agent: URL put+get {urlTime.TotalSeconds:0.0} s, "
            + $"{(keys.Count + TransactionKeys - 1) / TransactionKeys * 2} transactions {txnTime.TotalSeconds:0.0} s, "
            + $"{ThroughProvider} through the provider; total {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private async Task TransactAsync(string[] keys, string verb, string session, string? expectedSession, int seed, CancellationToken cancellationToken)
    {
        var operations = new JsonArray();
        foreach (var key in keys)
        {
            operations.Add(new JsonObject { ["KV"] = new JsonObject { ["Verb"] = verb, ["Key"] = key, ["Session"] = session } });
        }

        foreach (var key in keys)
        {
            operations.Add(new JsonObject { ["KV"] = new JsonObject { ["Verb"] = "get", ["Key"] = key } });
        }

        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Put, Agent.Address, "/v1/txn", operations.ToJsonString(), cancellationToken: cancellationToken);
        Assert.True(status == HttpStatusCode.OK, $"seed {seed}: {verb} transaction: {status} {body}");
        var results = JsonDocument.Parse(body).RootElement.GetProperty("Results").EnumerateArray().Select(r => r.GetProperty("KV")).ToArray();
        Assert.Equal(2 * keys.Length, results.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(keys[i], results[i].GetProperty("Key").GetString());
            var got = results[keys.Length + i];
            Assert.Equal(keys[i], got.GetProperty("Key").GetString());
            Assert.Equal(expectedSession, got.TryGetProperty("Session", out var s) ? s.GetString() : null);
        }
    }

    private (int Seed, int Count) Settings()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("CONSULLOCK_KEY_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261125;
        var count = int.TryParse(Environment.GetEnvironmentVariable("CONSULLOCK_KEY_FUZZ_COUNT"), CultureInfo.InvariantCulture, out var c) ? c : DefaultCount;
        output.WriteLine($"key fuzz: seed {seed} (CONSULLOCK_KEY_FUZZ_SEED), {count} segments (CONSULLOCK_KEY_FUZZ_COUNT)");
        return (seed, count);
    }

    /// <summary>Every code point is one Consul accepts in a URL path (so no lone surrogate either).</summary>
    private static bool OnlyCharactersConsulKeeps(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            int codePoint = text[i];
            if (char.IsSurrogate(text[i]))
            {
                if (!char.IsSurrogatePair(text, i))
                {
                    return false;
                }

                codePoint = char.ConvertToUtf32(text, i++);
            }

            if (!ConsulPathCharacters.IsAccepted(codePoint))
            {
                return false;
            }
        }

        return true;
    }

    private static string Value(int index) => index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Shows a string with every non-ASCII or non-printable code unit as <c>\uXXXX</c>, for messages.</summary>
    private static string Show(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            builder.Append(c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}");
        }

        return builder.Append('"').ToString();
    }
}
