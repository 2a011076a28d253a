using System.Text;
using System.Text.Json;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Consul's semaphore layout, as the Go client's <c>api.Semaphore</c> (and <c>consul lock -n N</c>) writes it, so that
/// ours and theirs count against one limit. Under the prefix: one contender key <c>&lt;prefix&gt;/&lt;session&gt;</c>
/// per contender, locked with its own session (it dies with it), and <c>&lt;prefix&gt;/.lock</c> holding
/// <c>{"Limit":N,"Holders":{"&lt;session&gt;":true,...}}</c>, changed only by check-and-set; both carry the semaphore
/// flag. A holder whose session no longer holds any key under the prefix is dead and is pruned by whoever writes
/// <c>.lock</c> next.
/// </summary>
internal static class SemaphoreLayout
{
    /// <summary>The coordination key's segment (the Go client's <c>DefaultSemaphoreKey</c>).</summary>
    public const string LockSegment = ".lock";

    /// <summary>The Go client's <c>SemaphoreFlagValue</c>, on the contender keys and on <c>.lock</c>.</summary>
    public const ulong FlagValue = ConsulClient.SemaphoreFlagValue;

    /// <summary>The marker in the value of our contender keys: it tells our waiters, which take turns, from the Go client's.</summary>
    private const string OursMarker = "\"contender\":\"consullock\"";

    /// <summary>The folder of the semaphore, with its trailing slash.</summary>
    public static string Folder(string prefix) => prefix + "/";

    /// <summary>The coordination key, <c>&lt;prefix&gt;/.lock</c>.</summary>
    public static string LockKey(string prefix) => prefix + "/" + LockSegment;

    /// <summary>The contender key of <paramref name="sessionId"/>.</summary>
    public static string ContenderKey(string prefix, string sessionId) => prefix + "/" + sessionId;

    /// <summary>
    /// The value of our contender key: who contends (for operators) and the marker of ours. <paramref name="holding"/>
    /// is written with the grant, which changes the key, so that the waiter of ours behind it learns it moved up.
    /// </summary>
    public static string ContenderValue(bool holding) =>
        "{" + OursMarker + ",\"host\":\"" + JsonEncodedText.Encode(Environment.MachineName) + "\",\"pid\":" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"holding\":" + (holding ? "true" : "false") + "}";

    /// <summary>Whether a contender key is one of ours (written by this library, in any process).</summary>
    public static bool IsOurs(KvEntry entry) => Text(entry)?.Contains(OursMarker, StringComparison.Ordinal) == true;

    /// <summary>The <c>.lock</c> document, as the Go client encodes it.</summary>
    public static string Encode(int limit, IEnumerable<string> holders)
    {
        var document = new SemaphoreDocument { Limit = limit, Holders = holders.Distinct(StringComparer.Ordinal).ToDictionary(h => h, _ => true, StringComparer.Ordinal) };
        return JsonSerializer.Serialize(document, ConsulJsonContext.Default.SemaphoreDocument);
    }

    /// <summary>
    /// Reads <c>.lock</c>: its limit and holders (none when it is absent or empty, as the Go client reads it). A key that
    /// is not a semaphore's (a lock, data) or whose limit differs from <paramref name="limit"/> is a conflict.
    /// </summary>
    public static (int Limit, HashSet<string> Holders) Decode(string prefix, int limit, KvEntry? lockEntry)
    {
        var holders = new HashSet<string>(StringComparer.Ordinal);
        if (lockEntry is null)
        {
            return (limit, holders);
        }

        var key = LockKey(prefix);
        if (lockEntry.Flags != FlagValue)
        {
            throw new ConsulLockConflictException(
                lockEntry.Flags == ConsulClient.LockFlagValue
                    ? $"The prefix '{prefix}' is used as a lock: its key '{key}' is a Consul lock (flags {ConsulClient.LockFlagValue:x}), so it cannot be a semaphore of limit {limit}. Use another prefix for the semaphore, or take the lock."
                    : $"The key '{key}' holds other data (flags {lockEntry.Flags}), not a semaphore's state; it is left untouched. Use another prefix for the semaphore of limit {limit}.",
                prefix);
        }

        if (Text(lockEntry) is not { Length: > 0 } text)
        {
            return (limit, holders);
        }

        SemaphoreDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(text, ConsulJsonContext.Default.SemaphoreDocument);
        }
        catch (JsonException ex)
        {
            throw new ConsulLockConflictException($"The key '{key}' carries the semaphore flag but its value is not a semaphore's state ({ex.Message}); it is left untouched.", prefix);
        }

        if (document is null || document.Limit != limit)
        {
            throw new ConsulLockConflictException(
                $"The semaphore '{prefix}' has limit {document?.Limit} in '{key}', and this process asked for limit {limit}: every holder of a semaphore must use the same limit. Use the limit of the others, or another prefix.",
                prefix);
        }

        foreach (var (holder, on) in document.Holders ?? [])
        {
            if (on)
            {
                holders.Add(holder);
            }
        }

        return (limit, holders);
    }

    /// <summary>The holders in <paramref name="lockEntry"/> (empty when it is absent or unreadable): the loss rule reads no further.</summary>
    public static bool Holds(KvEntry? lockEntry, string sessionId)
    {
        if (lockEntry is null || lockEntry.Flags != FlagValue || Text(lockEntry) is not { Length: > 0 } text)
        {
            return false;
        }

        try
        {
            return JsonSerializer.Deserialize(text, ConsulJsonContext.Default.SemaphoreDocument)?.Holders?.GetValueOrDefault(sessionId) == true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>A value as Consul's JSON carries it.</summary>
    public static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string? Text(KvEntry entry)
    {
        if (string.IsNullOrEmpty(entry.Value))
        {
            return null;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(entry.Value));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>The JSON of <c>&lt;prefix&gt;/.lock</c> (the Go client's <c>semaphoreLock</c>).</summary>
internal sealed class SemaphoreDocument
{
    public int Limit { get; set; }

    public Dictionary<string, bool>? Holders { get; set; }
}
