using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Tests.Keys;

/// <summary>
/// The inverse of <see cref="LockKey.EscapeSegment"/>, written independently as the tests' oracle: <c>%XX</c> runs are
/// UTF-8 (a surrogate code point in its three-byte form stands for that lone code unit), everything else is itself.
/// That it gives back every input proves the escaping one-to-one.
/// </summary>
internal static class PercentDecoder
{
    public static string Decode(string escaped)
    {
        var builder = new StringBuilder(escaped.Length);
        var bytes = new List<byte>();
        for (var i = 0; i < escaped.Length;)
        {
            if (escaped[i] != '%')
            {
                builder.Append(escaped[i]);
                i++;
                continue;
            }

            bytes.Clear();
            while (i < escaped.Length && escaped[i] == '%')
            {
                if (i + 3 > escaped.Length || !byte.TryParse(escaped.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    throw new FormatException($"A '%' at {i} is not followed by two hex digits.");
                }

                bytes.Add(b);
                i += 3;
            }

            AppendUtf8(bytes, builder);
        }

        return builder.ToString();
    }

    private static void AppendUtf8(List<byte> bytes, StringBuilder builder)
    {
        for (var i = 0; i < bytes.Count;)
        {
            var lead = bytes[i];
            var (length, initial, minimum) = lead switch
            {
                < 0x80 => (1, lead, 0),
                >= 0xC2 and < 0xE0 => (2, lead & 0x1F, 0x80),
                >= 0xE0 and < 0xF0 => (3, lead & 0x0F, 0x800),
                >= 0xF0 and < 0xF5 => (4, lead & 0x07, 0x10000),
                _ => throw new FormatException($"0x{lead:X2} cannot start a UTF-8 sequence."),
            };
            if (i + length > bytes.Count)
            {
                throw new FormatException("A UTF-8 sequence is cut short.");
            }

            var codePoint = initial;
            for (var k = 1; k < length; k++)
            {
                if ((bytes[i + k] & 0xC0) != 0x80)
                {
                    throw new FormatException("A UTF-8 continuation byte is missing.");
                }

                codePoint = (codePoint << 6) | (bytes[i + k] & 0x3F);
            }

            if (codePoint < minimum || codePoint > 0x10FFFF)
            {
                throw new FormatException($"U+{codePoint:X4} is encoded in the wrong length.");
            }

            builder.Append(codePoint is >= 0xD800 and <= 0xDFFF ? ((char)codePoint).ToString() : char.ConvertFromUtf32(codePoint));
            i += length;
        }
    }
}
