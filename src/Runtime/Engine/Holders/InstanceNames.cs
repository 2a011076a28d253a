using System.Text;

namespace ConsulLock.Aop.Engine;

/// <summary>What <see cref="ConsulLockOptions.InstanceName"/> may be: printable text an operator can read in a table or a log line.</summary>
internal static class InstanceNames
{
    public const int MaxBytes = 128;

    /// <summary>What is wrong with <paramref name="name"/> (a phrase that follows the option's name), or null.</summary>
    public static string? FindProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is empty; leave the default (\"<machine name>/<process id>\") or name the instance";
        }

        if (name.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator))
        {
            return $"= '{Printable(name)}' contains control or invisible format characters; it must be printable";
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            return $"= '{name}' is blank; leave the default (\"<machine name>/<process id>\") or name the instance";
        }

        if (!IsWellFormed(name))
        {
            return "contains a lone surrogate; it must be valid Unicode text";
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        return bytes > MaxBytes ? $"= '{(name.Length <= 80 ? name : name[..80] + "...")}' is {bytes} UTF-8 bytes long; it must be at most {MaxBytes}" : null;
    }

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static string Printable(string text)
    {
        var shown = new StringBuilder(Math.Min(text.Length, 80));
        foreach (var c in text.Take(80))
        {
            shown.Append(char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format ? '?' : c);
        }

        return shown.ToString();
    }
}
