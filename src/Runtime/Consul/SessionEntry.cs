using System.Text.Json.Serialization;

namespace ConsulLock.Aop.Consul;

/// <summary>A session as Consul's session endpoints return it.</summary>
internal sealed class SessionEntry
{
    public string ID { get; set; } = "";

    public string? Name { get; set; }

    public string? Node { get; set; }

    public string? Behavior { get; set; }

    public string? TTL { get; set; }

    public ulong LockDelay { get; set; }

    public ulong CreateIndex { get; set; }
}

/// <summary>The body of <c>PUT /v1/session/create</c>.</summary>
internal sealed class SessionCreateRequest
{
    public string Name { get; set; } = "";

    public string TTL { get; set; } = "";

    public string LockDelay { get; set; } = "";

    public string Behavior { get; set; } = "release";

    // An explicit empty list makes a TTL-only session; leaving it out binds the session to serfHealth.
    public IReadOnlyList<string> Checks { get; set; } = [];
}

/// <summary>The answer of <c>PUT /v1/session/create</c>.</summary>
internal sealed class SessionCreateResponse
{
    [JsonPropertyName("ID")]
    public string ID { get; set; } = "";
}
