using System.Text.Json.Serialization;

namespace ConsulLock.Aop.Tool.Output;

/// <summary>Source-generated (reflection-free, Native-AOT-safe) serialisation of what <c>--json</c> writes.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(HolderDocument))]
[JsonSerializable(typeof(List<HolderDocument>))]
[JsonSerializable(typeof(WatchEvent))]
[JsonSerializable(typeof(ReleaseReport))]
internal sealed partial class ToolJsonContext : JsonSerializerContext
{
}
