using System.Globalization;
using System.Text;

namespace ConsulLock.Aop;

/// <summary>
/// Builds and checks lock keys: the same rules the generated code and the provider apply, for callers of the
/// imperative API who build keys themselves.
/// </summary>
public static class LockKey
{
    /// <summary>The longest key Consul locks accept here, in UTF-8 bytes, prefix included.</summary>
    public const int MaxLengthInBytes = 512;

    /// <summary>
    /// Formats <paramref name="value"/> culture-invariantly (strings as they are, <see cref="IFormattable"/> with the
    /// invariant culture, enums by name, <see cref="DateTime"/> and <see cref="DateTimeOffset"/> in round-trip form)
    /// and escapes it so that it stays inside one key segment.
    /// </summary>
    /// <param name="value">The value of the placeholder.</param>
    /// <param name="placeholder">The placeholder as written in the template, for example <c>order.Customer.Id</c>; named in errors.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null; the exception names the parameter.</exception>
    /// <exception cref="ArgumentException"><paramref name="value"/> formats to an empty string.</exception>
    public static string FormatSegment<T>(T value, string placeholder)
    {
        if (value is null)
        {
            throw new ArgumentNullException(
                RootParameter(placeholder),
                $"The lock key placeholder '{{{placeholder}}}' is null; a lock key cannot be built from a null value.");
        }

        var text = value switch
        {
            string s => s,
            Enum e => e.ToString(),
            DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
            DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };

        if (string.IsNullOrEmpty(text))
        {
            throw new ArgumentException(
                $"The lock key placeholder '{{{placeholder}}}' formats to an empty string; a key segment cannot be empty.",
                RootParameter(placeholder));
        }

        return EscapeSegment(text);
    }

    /// <summary>
    /// Escapes <paramref name="value"/> so that it stays one key segment that Consul keeps exactly as written, through
    /// its URL API and its transaction API alike. Percent-encoded (as the UTF-8 bytes of the code point, upper-case
    /// hex): <c>/</c> and <c>%</c>; every character Consul refuses in a URL path (control and format characters,
    /// spaces other than the ASCII space, line and paragraph separators, private-use and unassigned code points, and
    /// characters newer than Consul's Unicode tables); and each unpaired surrogate, as the three bytes its code unit
    /// would take (<c>\uD800</c> becomes <c>%ED%A0%80</c>), which Consul would otherwise store as U+FFFD. A value that is
    /// exactly <c>.</c> or <c>..</c> has its dots encoded, and so has the first dot of
    /// <c>.consullock-queue</c>, the segment kept for the queues of waiting processes. Everything else is kept as it is. Distinct values stay
    /// distinct: since <c>%</c> itself is encoded, the result decodes back to exactly <paramref name="value"/>.
    /// </summary>
    public static string EscapeSegment(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is "." or "..")
        {
            return value.Replace(".", "%2E", StringComparison.Ordinal);
        }

        if (value == Engine.QueueLayout.Segment)
        {
            // Kept for the waiting queues beside each lock key: an argument must not reach into one.
            return "%2E" + value[1..];
        }

        var firstToEscape = IndexOfCharToEscape(value);
        if (firstToEscape < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 16);
        builder.Append(value, 0, firstToEscape);
        for (var i = firstToEscape; i < value.Length;)
        {
            var (codePoint, length) = CodePointAt(value, i);
            if (NeedsEscape(codePoint))
            {
                AppendPercentEncoded(builder, codePoint);
            }
            else
            {
                builder.Append(value, i, length);
            }

            i += length;
        }

        return builder.ToString();
    }

    /// <summary>
    /// Checks a full key: not empty, no leading or trailing <c>/</c>, no <c>//</c>, no <c>.</c> or <c>..</c>
    /// segment, no <c>.consullock-queue</c> segment (kept for the queues of waiting processes), no character that Consul would refuse or rewrite (a character <see cref="EscapeSegment"/> encodes,
    /// other than <c>/</c> and <c>%</c>, or an unpaired surrogate), at most <see cref="MaxLengthInBytes"/> UTF-8 bytes.
    /// </summary>
    /// <exception cref="ArgumentException">The key breaks one of the rules; the message says which.</exception>
    public static void Validate(string key)
    {
        var problem = FindProblem(key);
        if (problem is not null)
        {
            throw new ArgumentException($"'{Shorten(key)}' is not a valid lock key: {problem}.", nameof(key));
        }
    }

    /// <summary>Says what is wrong with <paramref name="key"/>, or <see langword="null"/> when it is a valid lock key.</summary>
    public static string? FindProblem(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "it is empty";
        }

        if (key[0] == '/')
        {
            return "it starts with '/'";
        }

        if (key[^1] == '/')
        {
            return "it ends with '/'";
        }

        if (key.Contains("//", StringComparison.Ordinal))
        {
            return "it contains an empty segment ('//')";
        }

        foreach (var segment in key.Split('/'))
        {
            if (segment is "." or "..")
            {
                return $"it contains a '{segment}' segment";
            }

            if (segment == Engine.QueueLayout.Segment)
            {
                return $"it contains a '{segment}' segment, which is kept for the queues of waiting processes";
            }
        }

        var character = FindCharacterProblem(key);
        if (character is not null)
        {
            return character;
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        if (bytes > MaxLengthInBytes)
        {
            return $"it is {bytes} bytes long in UTF-8, more than the {MaxLengthInBytes} allowed";
        }

        return null;
    }

    private static string? FindCharacterProblem(string key)
    {
        for (var i = 0; i < key.Length;)
        {
            var (codePoint, length) = CodePointAt(key, i);
            if (char.IsSurrogate(key[i]) && length == 1)
            {
                return $"it contains an unpaired surrogate (U+{codePoint:X4}) at index {i}, which Consul would store as U+FFFD "
                    + "(so the key read back is another key); build segments from untrusted values with LockKey.EscapeSegment "
                    + "or LockKey.FormatSegment, which encode it";
            }

            if (codePoint is < 0x20 or >= 0x7F && !ConsulPathCharacters.IsAccepted(codePoint))
            {
                return $"it contains U+{codePoint:X4} at index {i}, which Consul refuses in a URL path (not a printable character "
                    + "in its Unicode tables); build segments from untrusted values with LockKey.EscapeSegment or "
                    + "LockKey.FormatSegment, which encode it";
            }

            i += length;
        }

        return null;
    }

    private static int IndexOfCharToEscape(string value)
    {
        for (var i = 0; i < value.Length;)
        {
            var (codePoint, length) = CodePointAt(value, i);
            if (NeedsEscape(codePoint))
            {
                return i;
            }

            i += length;
        }

        return -1;
    }

    // Printable ASCII, the common case, skips the table's binary search.
    private static bool NeedsEscape(int codePoint) =>
        codePoint is >= 0x20 and < 0x7F ? codePoint is '/' or '%' : !ConsulPathCharacters.IsAccepted(codePoint);

    /// <summary>The code point at <paramref name="index"/>; an unpaired surrogate is its own code point, one unit long.</summary>
    private static (int CodePoint, int Length) CodePointAt(string text, int index)
    {
        var c = text[index];
        return char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1])
            ? (char.ConvertToUtf32(c, text[index + 1]), 2)
            : (c, 1);
    }

    /// <summary>
    /// The code point's UTF-8 bytes as <c>%XX</c>; a surrogate code point takes the three bytes UTF-8's pattern gives
    /// it (as in WTF-8), which no real character has, so the encoding stays one-to-one.
    /// </summary>
    private static void AppendPercentEncoded(StringBuilder builder, int codePoint)
    {
        Span<byte> bytes = stackalloc byte[4];
        int length;
        if (codePoint < 0x80)
        {
            bytes[0] = (byte)codePoint;
            length = 1;
        }
        else if (codePoint < 0x800)
        {
            bytes[0] = (byte)(0xC0 | (codePoint >> 6));
            bytes[1] = (byte)(0x80 | (codePoint & 0x3F));
            length = 2;
        }
        else if (codePoint < 0x10000)
        {
            bytes[0] = (byte)(0xE0 | (codePoint >> 12));
            bytes[1] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
            bytes[2] = (byte)(0x80 | (codePoint & 0x3F));
            length = 3;
        }
        else
        {
            bytes[0] = (byte)(0xF0 | (codePoint >> 18));
            bytes[1] = (byte)(0x80 | ((codePoint >> 12) & 0x3F));
            bytes[2] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
            bytes[3] = (byte)(0x80 | (codePoint & 0x3F));
            length = 4;
        }

        foreach (var b in bytes[..length])
        {
            builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
    }

    private static string RootParameter(string placeholder)
    {
        var dot = placeholder.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? placeholder : placeholder[..dot];
    }

    /// <summary>The key for a message: at most 80 code units, with what Consul would refuse shown as a C# escape.</summary>
    private static string Shorten(string key)
    {
        var shown = key.Length <= 80 ? key : key[..80];
        var builder = new StringBuilder(shown.Length + 8);
        for (var i = 0; i < shown.Length;)
        {
            var (codePoint, length) = CodePointAt(shown, i);
            if (codePoint is '%' or '/' || !NeedsEscape(codePoint))
            {
                builder.Append(shown, i, length);
            }
            else
            {
                builder.Append(codePoint <= 0xFFFF ? "\\u" : "\\U").Append(codePoint.ToString(codePoint <= 0xFFFF ? "X4" : "X8", CultureInfo.InvariantCulture));
            }

            i += length;
        }

        return shown.Length < key.Length ? builder.Append("...").ToString() : builder.ToString();
    }
}
