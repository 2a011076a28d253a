using System.Text.Json.Serialization;

namespace ConsulLock.Aop.Consul;

/// <summary>One operation of a <c>PUT /v1/txn</c> request; only KV operations are used.</summary>
internal sealed class TxnOperation
{
    public TxnKvOperation KV { get; set; } = new();

    public static TxnOperation CheckIndex(string key, ulong index) => new() { KV = new() { Verb = "check-index", Key = key, Index = index } };

    public static TxnOperation CheckNotExists(string key) => new() { KV = new() { Verb = "check-not-exists", Key = key } };

    /// <summary>Locks <paramref name="key"/> with <paramref name="session"/>, writing <paramref name="value"/> (UTF-8 text; null writes an empty value).</summary>
    public static TxnOperation Lock(string key, string session, ulong flags, string? value = null) =>
        new() { KV = new() { Verb = "lock", Key = key, Session = session, Flags = flags, Value = Encode(value) } };

    public static TxnOperation Unlock(string key, string session, ulong flags) => new() { KV = new() { Verb = "unlock", Key = key, Session = session, Flags = flags } };

    public static TxnOperation DeleteCas(string key, ulong index) => new() { KV = new() { Verb = "delete-cas", Key = key, Index = index } };

    /// <summary>Writes <paramref name="value"/> when the key's ModifyIndex is <paramref name="index"/> (0: only when absent): check-and-set.</summary>
    public static TxnOperation Cas(string key, string value, ulong flags, ulong index) =>
        new() { KV = new() { Verb = "cas", Key = key, Flags = flags, Index = index, Value = Encode(value) } };

    /// <summary>Reads every key under <paramref name="prefix"/>; an empty folder is not an error.</summary>
    public static TxnOperation GetTree(string prefix) => new() { KV = new() { Verb = "get-tree", Key = prefix } };

    /// <summary>Deletes <paramref name="key"/>; a key that does not exist is not an error.</summary>
    public static TxnOperation Delete(string key) => new() { KV = new() { Verb = "delete", Key = key } };

    private static string? Encode(string? value) => value is null ? null : Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(value));
}

internal sealed class TxnKvOperation
{
    public string Verb { get; set; } = "";

    public string Key { get; set; } = "";

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Session { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Flags { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Index { get; set; }

    /// <summary>The value, base64-encoded as Consul's transaction API wants it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Value { get; set; }
}

/// <summary>The answer of <c>PUT /v1/txn</c>: results on 200, errors on 409.</summary>
internal sealed class TxnResponse
{
    public List<TxnResult>? Results { get; set; }

    public List<TxnError>? Errors { get; set; }
}

internal sealed class TxnResult
{
    public KvEntry? KV { get; set; }
}

internal sealed class TxnError
{
    public int OpIndex { get; set; }

    public string? What { get; set; }
}
