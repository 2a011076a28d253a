using System.Text;

namespace ConsulLock.Aop.Tests.Keys;

/// <summary>
/// Random placeholder values of the kinds a sender could put in an id: mostly short, some long; built from pieces
/// drawn from pools of awkward characters, so that every pool turns up in a few thousand values.
/// </summary>
internal static class SegmentGenerator
{
    private static readonly string[] s_wholeValues =
        [".", "..", "...", ".%", "%2E", "%2E%2E", ".consullock-queue", "%2Econsullock-queue", ".consullock-queue.", "/", "//", "./..", " ", "\uD800", "\uDC00\uD800", "\uFFFD", "%ED%A0%80"];

    private static readonly int[] s_format =
        [0x00AD, 0x0600, 0x0601, 0x0605, 0x061C, 0x06DD, 0x070F, 0x08E2, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
         0x202A, 0x202E, 0x2060, 0x2064, 0x2066, 0x2069, 0x206F, 0xFEFF, 0xFFF9, 0xFFFB, 0x110BD, 0x110CD, 0x1D173,
         0x1D17A, 0xE0001, 0xE0020, 0xE007F];

    private static readonly int[] s_unassigned = [0x0378, 0x0379, 0x0380, 0x0557, 0x05FF, 0x2FE0, 0xFDD0, 0xFFFE, 0xFFFF, 0x1FFFE, 0xE0080, 0x10FFFF];

    /// <summary>Assigned after Unicode 12.0 (Consul 1.8.7's tables), so printable for .NET but not for that Consul.</summary>
    private static readonly int[] s_newerThanConsul = [0x08BE, 0x08C7, 0x0D81, 0x32FF, 0x1F6D6, 0x1FAD0, 0x1FB00, 0x31350, 0x2B735];

    private static readonly string[] s_slashes = ["/", "\\", "\u2215", "\uFF0F", "\u2044", "\u29F8", "\uFE68", "\u2571", "\u1735"];

    private static readonly string[] s_percents = ["%", "%2F", "%25", "%2E", "%ED%A0%80", "%%", "%G0", "\uFF05", "\u066A", "\uFE6A"];

    private static readonly string[] s_dots = [".", "..", "\u2024", "\uFF0E", "\u3002"];

    private static readonly string[] s_spaces = [" ", "\u00A0", "\u3000", "\u2028", "\u2029", "\u200B", "\t", "\r\n"];

    private static readonly string[] s_printable = ["\u00E9", "\u00DF", "\u0416", "\u4E2D", "\u2713", "\u0301", "\U0001F600", "\U00020000", "?", "#", "&", "+", "=", "~", "\"", "'", "<", ">"];

    public static string Next(Random random)
    {
        if (random.Next(20) == 0)
        {
            return s_wholeValues[random.Next(s_wholeValues.Length)];
        }

        var length = random.Next(10) == 0 ? random.Next(40, 200) : random.Next(1, 16);
        var builder = new StringBuilder();
        while (builder.Length < length)
        {
            AppendPiece(random, builder);
        }

        return builder.ToString();
    }

    private static void AppendPiece(Random random, StringBuilder builder)
    {
        switch (random.Next(15))
        {
            case 0 or 1 or 2:
                builder.Append((char)random.Next(0x21, 0x7F));
                break;
            case 3:
                builder.Append((char)(random.Next(2) == 0 ? random.Next(0x00, 0x20) : random.Next(0x7F, 0xA0)));
                break;
            case 4:
                AppendCodePoint(builder, Pick(random, s_format));
                break;
            case 5:
                AppendCodePoint(builder, random.Next(3) == 0 ? random.Next(0x40000, 0xE0000) : Pick(random, s_unassigned));
                break;
            case 6:
                AppendCodePoint(builder, Pick(random, s_newerThanConsul));
                break;
            case 7:
                builder.Append((char)random.Next(0xD800, 0xE000)); // a surrogate alone; two in a row may pair up
                break;
            case 8:
                AppendCodePoint(builder, random.Next(3) switch { 0 => random.Next(0x1F300, 0x1F600), 1 => random.Next(0x20000, 0x2A6E0), _ => random.Next(0x10000, 0x110000) });
                break;
            case 9:
                builder.Append(Pick(random, s_slashes));
                break;
            case 10:
                builder.Append(Pick(random, s_percents));
                break;
            case 11:
                builder.Append(Pick(random, s_dots));
                break;
            case 12:
                builder.Append(Pick(random, s_spaces));
                break;
            case 13:
                builder.Append(Pick(random, s_printable));
                break;
            default:
                var codePoint = random.Next(0, 0x110000);
                if (codePoint is >= 0xD800 and <= 0xDFFF)
                {
                    builder.Append((char)codePoint);
                }
                else
                {
                    AppendCodePoint(builder, codePoint);
                }

                break;
        }
    }

    private static T Pick<T>(Random random, T[] pool) => pool[random.Next(pool.Length)];

    private static void AppendCodePoint(StringBuilder builder, int codePoint) => builder.Append(char.ConvertFromUtf32(codePoint));
}
