using System.Text.Json.Serialization;

namespace ConsulLock.Aop.Consul;

/// <summary>Source-generated (reflection-free, trimming-safe) serialisation of Consul's wire format.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.Unspecified, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(List<KvEntry>))]
[JsonSerializable(typeof(List<SessionEntry>))]
[JsonSerializable(typeof(SessionCreateRequest))]
[JsonSerializable(typeof(SessionCreateResponse))]
[JsonSerializable(typeof(List<TxnOperation>))]
[JsonSerializable(typeof(TxnResponse))]
[JsonSerializable(typeof(ConsulLock.Aop.Engine.SemaphoreDocument))]
internal sealed partial class ConsulJsonContext : JsonSerializerContext
{
}
