using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The value a holder of this library writes into a lock key with its lock request (CONTRACT.md section 8):
/// <c>{"instance":...,"host":...,"pid":...,"acquired":"&lt;ISO 8601 UTC&gt;","traceparent":...}</c>. Consul's Go client
/// ignores a lock key's value, so the document costs interop nothing. Reading is lenient: a value that is not such a
/// document (another client's, a hand-written one, garbage) is "no document", never an error.
/// </summary>
internal sealed record HolderDocument(string Instance, string? Host, int? Pid, DateTimeOffset? Acquired, string? TraceParent)
{
    /// <summary>A value larger than this is not ours (ours is a few hundred bytes): it is not even decoded.</summary>
    private const int MaxEncodedLength = 4096;

    /// <summary>The document of a lock request sent now by <paramref name="instance"/>, in the trace <paramref name="traceParent"/>.</summary>
    public static string Write(string instance, string? traceParent)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Written as text an operator reads with `consul kv get` (an instance "café" stays so); it is never put in HTML.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("instance", instance);
            json.WriteString("host", Environment.MachineName);
            json.WriteNumber("pid", Environment.ProcessId);
            json.WriteString("acquired", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            if (traceParent is not null)
            {
                json.WriteString("traceparent", traceParent);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The W3C traceparent of <paramref name="activity"/>; null when it has none (no activity, or a hierarchical id).</summary>
    public static string? TraceParentOf(Activity? activity) =>
        activity is { IdFormat: ActivityIdFormat.W3C, Id: { } id } ? id : null;

    /// <summary>Reads a key's value as Consul's KV API returns it (base64); null when it is not a holder document.</summary>
    public static HolderDocument? TryRead(string? base64Value)
    {
        if (string.IsNullOrEmpty(base64Value) || base64Value.Length > MaxEncodedLength)
        {
            return null;
        }

        var bytes = new byte[(base64Value.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(base64Value, bytes, out var length))
        {
            return null;
        }

        return TryParse(bytes.AsSpan(0, length));
    }

    /// <summary>Reads a UTF-8 JSON document; null when it is not an object with a non-empty <c>instance</c> string.</summary>
    public static HolderDocument? TryParse(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            string? instance = null, host = null, traceParent = null;
            int? pid = null;
            DateTimeOffset? acquired = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                if (!reader.Read())
                {
                    return null;
                }

                switch (name)
                {
                    case "instance" when reader.TokenType == JsonTokenType.String:
                        instance = reader.GetString();
                        break;
                    case "host" when reader.TokenType == JsonTokenType.String:
                        host = reader.GetString();
                        break;
                    case "pid" when reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var number):
                        pid = number;
                        break;
                    case "acquired" when reader.TokenType == JsonTokenType.String:
                        acquired = DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
                            ? at
                            : null;
                        break;
                    case "traceparent" when reader.TokenType == JsonTokenType.String:
                        traceParent = IsTraceParent(reader.GetString()) ? reader.GetString() : null;
                        break;
                    default:
                        // Unknown members (a later version's) and members of an unexpected type are skipped.
                        reader.Skip();
                        break;
                }
            }

            return string.IsNullOrWhiteSpace(instance) ? null : new HolderDocument(instance, host, pid, acquired, traceParent);
        }
        catch (JsonException)
        {
            return null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="text"/> is a W3C traceparent <see cref="ActivityContext"/> can read.</summary>
    public static bool IsTraceParent(string? text) => text is not null && ActivityContext.TryParse(text, null, out _);
}
