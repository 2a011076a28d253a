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
    /// Escapes <paramref name="value"/> so that it stays one key segment: <c>/</c>, <c>%</c> and control characters
    /// are percent-encoded (UTF-8), and a value that is exactly <c>.</c> or <c>..</c> has its dots encoded. Distinct
    /// values stay distinct.
    /// </summary>
    public static string EscapeSegment(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is "." or "..")
        {
            return value.Replace(".", "%2E", StringComparison.Ordinal);
        }

        var firstToEscape = IndexOfCharToEscape(value, 0);
        if (firstToEscape < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        builder.Append(value, 0, firstToEscape);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = firstToEscape; i < value.Length; i++)
        {
            var c = value[i];
            if (!NeedsEscape(c))
            {
                builder.Append(c);
                continue;
            }

            var length = Encoding.UTF8.GetBytes(value.AsSpan(i, 1), utf8);
            for (var b = 0; b < length; b++)
            {
                builder.Append('%').Append(utf8[b].ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Checks a full key: not empty, no leading or trailing <c>/</c>, no <c>//</c>, no <c>.</c> or <c>..</c>
    /// segment, at most <see cref="MaxLengthInBytes"/> UTF-8 bytes.
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
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        if (bytes > MaxLengthInBytes)
        {
            return $"it is {bytes} bytes long in UTF-8, more than the {MaxLengthInBytes} allowed";
        }

        return null;
    }

    private static int IndexOfCharToEscape(string value, int start)
    {
        for (var i = start; i < value.Length; i++)
        {
            if (NeedsEscape(value[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool NeedsEscape(char c) => c is '/' or '%' || char.IsControl(c);

    private static string RootParameter(string placeholder)
    {
        var dot = placeholder.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? placeholder : placeholder[..dot];
    }

    private static string Shorten(string key) => key.Length <= 80 ? key : key[..80] + "...";
}
