using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tests.Keys;

/// <summary>
/// The rows of issue 10: placeholder values a webhook sender controls (format characters, lone surrogates) become
/// keys that a real agent keeps under exactly their name, through the provider's URL reads and transaction writes;
/// the same characters in a raw key are refused before any network call.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class UntrustedKeyTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private static readonly TimeSpan s_noHang = TimeSpan.FromSeconds(30);

    /// <summary>Ids as text with <c>\uXXXX</c> escapes, so that xunit's discovery never serialises a lone surrogate.</summary>
    private static readonly string[] s_untrustedIds =
    [
        @"a\u200Db",   // zero-width joiner (Cf)
        @"a\u00ADb",   // soft hyphen (Cf)
        @"\uFEFFx",    // byte-order mark (Cf)
        @"a\u0601b",   // Arabic sign sanah (Cf)
        @"a\uD800b",   // lone high surrogate
        @"x\uDBFF",    // lone high surrogate at the end
        @"\uDC00y",    // lone low surrogate
        @"a\u00A0b",   // no-break space (Zs): not printable for Consul either
        @"\u2028",     // line separator (Zl)
        @"\uE000",     // private use (Co)
        @"a\u08BEb",   // assigned in Unicode 13, after Consul 1.8.7's Unicode 12 tables
    ];

    public static TheoryData<string> UntrustedIds => new(s_untrustedIds);

    [Theory]
    [MemberData(nameof(UntrustedIds))]
    public async Task A_placeholder_value_Consul_would_refuse_or_rewrite_gives_a_key_held_under_its_exact_name(string escapedId)
    {
        var key = "webhook_receiver/" + LockKey.FormatSegment(Unescape(escapedId), "id");
        var provider = NewProvider();

        await using var handle = await provider.AcquireAsync(key).AsTask().WaitAsync(s_noHang);

        Assert.Equal(Prefix + key, handle.Key);
        Assert.Equal(handle.SessionId, (await ReadExactAsync(Prefix + key))?.GetProperty("Session").GetString());
        Assert.Contains(Prefix + key, await ListAsync(Prefix));
        // Another provider (another session) finds the key busy under that same name.
        Assert.Null(await NewProvider().TryAcquireAsync(key, TimeSpan.Zero).AsTask().WaitAsync(s_noHang));
    }

    [Fact]
    public async Task No_lost_token_fires_for_keys_held_from_such_values()
    {
        var provider = NewProvider();
        var handles = new List<IConsulLockHandle>();
        foreach (var id in s_untrustedIds)
        {
            handles.Add(await provider.AcquireAsync("webhook_receiver/" + LockKey.FormatSegment(Unescape(id), "id")).AsTask().WaitAsync(s_noHang));
        }

        // Before the fix a lone surrogate's key was stored with U+FFFD, so the holder's own read missed it and the
        // lost-token fired at once. One generous bound for all of them: none may fire at all.
        using var any = CancellationTokenSource.CreateLinkedTokenSource(handles.Select(h => h.LostToken).ToArray());
        Assert.False(await FiresWithinAsync(TimeSpan.FromSeconds(2), any.Token), "a lost-token fired for a key that is held");
        foreach (var handle in handles)
        {
            await handle.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(UntrustedIds))]
    public async Task The_same_value_in_a_raw_key_is_refused_before_any_network_call(string escapedId)
    {
        var raw = "webhook_receiver/" + Unescape(escapedId);
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = new Uri($"http://127.0.0.1:{FreePorts.Take(1)[0]}/") });

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await provider.AcquireAsync(raw).AsTask().WaitAsync(s_noHang));

        Assert.Contains("U+", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'webhook_receiver/{escapedId}'", error.Message, StringComparison.Ordinal); // the key shown readably
        Assert.Contains("EscapeSegment", error.Message, StringComparison.Ordinal);
        Assert.Equal(error.Message, Assert.Throws<ArgumentException>(() => LockKey.Validate(raw)).Message);
    }

    [Fact]
    public async Task Two_lone_surrogates_that_Consul_would_merge_into_one_U_FFFD_stay_two_keys()
    {
        var provider = NewProvider();
        var first = "webhook_receiver/" + LockKey.FormatSegment("x\uD800", "id");
        var second = "webhook_receiver/" + LockKey.FormatSegment("x\uDBFF", "id");
        Assert.NotEqual(first, second);

        await using var held = await provider.AcquireAsync(first).AsTask().WaitAsync(s_noHang);
        // Before the fix both were Consul's "x\uFFFD": this wait spun past its 3 s timeout.
        await using var other = await provider.TryAcquireAsync(second, TimeSpan.FromSeconds(3)).AsTask().WaitAsync(s_noHang);

        Assert.NotNull(other);
        var listed = await ListAsync(Prefix);
        Assert.Contains(Prefix + first, listed);
        Assert.Contains(Prefix + second, listed);
        Assert.False(held.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task A_key_whose_lone_surrogate_Consul_would_rewrite_ends_at_once_in_the_callers_wait_not_in_a_spin()
    {
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix });
        await using var held = await provider.AcquireAsync("x" + LockKey.EscapeSegment("\uD800")).AsTask().WaitAsync(s_noHang);

        var error = await Assert.ThrowsAsync<ArgumentException>(async () =>
            await provider.TryAcquireAsync("x\uDBFF", TimeSpan.FromSeconds(3)).AsTask().WaitAsync(s_noHang));

        Assert.Contains("unpaired surrogate", error.Message, StringComparison.Ordinal);
    }

    private static string Unescape(string escaped) =>
        Regex.Replace(escaped, @"\\u([0-9A-F]{4})", m => ((char)int.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToString());

    private static async Task<bool> FiresWithinAsync(TimeSpan bound, CancellationToken token)
    {
        try
        {
            await Task.Delay(bound, token);
            return false;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return true;
        }
    }

    private async Task<JsonElement?> ReadExactAsync(string key)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(key));
        if (status == HttpStatusCode.NotFound)
        {
            return null;
        }

        Assert.Equal(HttpStatusCode.OK, status);
        var entry = JsonDocument.Parse(body).RootElement[0];
        Assert.Equal(key, entry.GetProperty("Key").GetString());
        return entry.Clone();
    }

    private async Task<string[]> ListAsync(string prefix)
    {
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, Agent.Address, "/v1/kv/" + ConsulClient.EscapePath(prefix) + "?keys");
        Assert.Equal(HttpStatusCode.OK, status);
        return JsonSerializer.Deserialize<string[]>(body)!;
    }
}
