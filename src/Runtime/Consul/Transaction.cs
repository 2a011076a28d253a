using System.Text.Json.Serialization;

namespace ConsulLock.Aop.Consul;

/// <summary>One operation of a <c>PUT /v1/txn</c> request; only KV operations are used.</summary>
internal sealed class TxnOperation
{
    public TxnKvOperation KV { get; set; } = new();

    public static TxnOperation CheckIndex(string key, ulong index) => new() { KV = new() { Verb = "check-index", Key = key, Index = index } };

    public static TxnOperation CheckNotExists(string key) => new() { KV = new() { Verb = "check-not-exists", Key = key } };

    public static TxnOperation Lock(string key, string session, ulong flags) => new() { KV = new() { Verb = "lock", Key = key, Session = session, Flags = flags } };

    public static TxnOperation Unlock(string key, string session, ulong flags) => new() { KV = new() { Verb = "unlock", Key = key, Session = session, Flags = flags } };

    public static TxnOperation DeleteCas(string key, ulong index) => new() { KV = new() { Verb = "delete-cas", Key = key, Index = index } };

    public static TxnOperation Get(string key) => new() { KV = new() { Verb = "get", Key = key } };

    /// <summary>Reads every key under <paramref name="prefix"/>; an empty folder is not an error.</summary>
    public static TxnOperation GetTree(string prefix) => new() { KV = new() { Verb = "get-tree", Key = prefix } };

    /// <summary>Deletes <paramref name="key"/>; a key that does not exist is not an error.</summary>
    public static TxnOperation Delete(string key) => new() { KV = new() { Verb = "delete", Key = key } };
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
