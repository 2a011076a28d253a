using System.Text;
using System.Text.Json;

namespace ConsulLock.Aop.Consul;

/// <summary>
/// Makes the first lock of a process cost about what later ones do. A fresh process pays, on its first lock, for
/// opening the connection to Consul and for compiling the HTTP and JSON code on first use (0.1-0.3 s, measured in
/// docs/performance.md). Warming asks Consul for its leader (a request any ACL token may make, which opens the
/// pooled connection), runs Consul's wire format through the serialiser once, and reads an empty folder in a
/// transaction (the path every lock request takes). It writes nothing to Consul.
/// </summary>
internal static class WarmUp
{
    // Answers shaped as Consul gives them, parsed once so that their code is compiled before a lock needs it.
    private const string SampleKeys = """[{"LockIndex":1,"Key":"k","Flags":3304740253564472344,"Value":"e30=","Session":"s","CreateIndex":1,"ModifyIndex":2}]""";
    private const string SampleSessions = """[{"ID":"s","Name":"n","Node":"node","LockDelay":15000000000,"Behavior":"release","TTL":"15s","NodeChecks":["serfHealth"],"CreateIndex":1,"ModifyIndex":1}]""";
    private const string SampleTxn = """{"Results":[{"KV":{"LockIndex":1,"Key":"k","Flags":1,"Value":null,"Session":"s","CreateIndex":1,"ModifyIndex":2}}],"Errors":[{"OpIndex":0,"What":"w"}]}""";

    public static async Task RunAsync(ConsulClient client, string emptyFolder, CancellationToken cancellationToken)
    {
        JsonSerializer.Serialize(
            new List<TxnOperation> { TxnOperation.CheckIndex("k", 1), TxnOperation.Lock("k", "s", 1, "v"), TxnOperation.GetTree("k/") },
            ConsulJsonContext.Default.ListTxnOperation);
        JsonSerializer.Serialize(new SessionCreateRequest(), ConsulJsonContext.Default.SessionCreateRequest);
        JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(SampleKeys), ConsulJsonContext.Default.ListKvEntry);
        JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(SampleSessions), ConsulJsonContext.Default.ListSessionEntry);
        JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(SampleTxn), ConsulJsonContext.Default.TxnResponse);
        JsonSerializer.Deserialize("""{"ID":"s"}"""u8, ConsulJsonContext.Default.SessionCreateResponse);
        await client.PingAsync(cancellationToken).ConfigureAwait(false);
        await client.TransactAsync([TxnOperation.GetTree(emptyFolder)], emptyFolder, "warm up (read an empty folder)", cancellationToken).ConfigureAwait(false);
    }
}
