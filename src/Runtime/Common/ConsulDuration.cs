using System;
using System.Globalization;

namespace ConsulLock.Aop.Common;

/// <summary>Durations in Consul's (Go's) notation: "15s", "250ms", "1m30s", "1.5h".</summary>
/// <remarks>
/// One source file serves both the runtime and the generator (which checks attribute durations at compile time),
/// so the two can never disagree on what a duration means; hence plain netstandard2.0 APIs only.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1846", Justification = "Shared with the netstandard2.0 generator, which has no span overloads.")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2249", Justification = "Shared with the netstandard2.0 generator, which has no string.Contains(char).")]
internal static class ConsulDuration
{
    public static string Format(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : ((long)Math.Ceiling(value.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>Parses Go notation; with <paramref name="allowTimeSpanText"/> also .NET's "hh:mm:ss", for configuration files.</summary>
    public static bool TryParse(string? text, out TimeSpan value, bool allowTimeSpanText = true)
    {
        value = default;
        if (text is null || text.Trim().Length == 0)
        {
            return false;
        }

        text = text.Trim();
        if (text.IndexOf(':') >= 0)
        {
            return allowTimeSpanText && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
        }

        if (text == "0")
        {
            return true;
        }

        double total = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && IsNumberChar(text[i]))
            {
                i++;
            }

            if (i == start || !double.TryParse(text.Substring(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < text.Length && !IsNumberChar(text[i]))
            {
                i++;
            }

            double ticksPerUnit;
            switch (text.Substring(unitStart, i - unitStart))
            {
                case "ns": ticksPerUnit = 0.01; break;
                case "us" or "\u00b5s": ticksPerUnit = 10; break;
                case "ms": ticksPerUnit = TimeSpan.TicksPerMillisecond; break;
                case "s": ticksPerUnit = TimeSpan.TicksPerSecond; break;
                case "m": ticksPerUnit = TimeSpan.TicksPerMinute; break;
                case "h": ticksPerUnit = TimeSpan.TicksPerHour; break;
                default: return false;
            }

            total += number * ticksPerUnit;
        }

        if (total > TimeSpan.MaxValue.Ticks)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)total);
        return true;
    }

    private static bool IsNumberChar(char c) => c is (>= '0' and <= '9') or '.';
}
