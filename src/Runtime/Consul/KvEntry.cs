namespace ConsulLock.Aop.Consul;

/// <summary>One KV entry as Consul returns it (the fields the engine reads).</summary>
internal sealed class KvEntry
{
    public string Key { get; set; } = "";

    public ulong Flags { get; set; }

    public string? Value { get; set; }

    public string? Session { get; set; }

    public ulong LockIndex { get; set; }

    public ulong CreateIndex { get; set; }

    public ulong ModifyIndex { get; set; }
}
