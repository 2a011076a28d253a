using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Tool.Output;

/// <summary>Holders as people read them: a table for <c>list</c>, fields for <c>show</c>, a line for <c>watch</c>.</summary>
internal static class HolderText
{
    private const string None = "-";

    public static string Table(IReadOnlyList<ConsulLockHolder> holders, DateTimeOffset now)
    {
        string[] header = ["KEY", "HOLDER", "SINCE", "TOKEN", "WAITERS"];
        var rows = holders.Select(h => new[]
        {
            h.Key, h.InstanceName, Since(h.AcquiredAt, now), h.FencingToken.ToString(CultureInfo.InvariantCulture),
            h.Waiters.ToString(CultureInfo.InvariantCulture),
        }).Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(column => rows.Max(row => row[column].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            for (var column = 0; column < row.Length; column++)
            {
                var last = column == row.Length - 1;
                text.Append(last ? row[column] : row[column].PadRight(widths[column] + 2));
            }

            text.AppendLine();
        }

        return text.ToString().TrimEnd();
    }

    public static string Fields(ConsulLockHolder holder, DateTimeOffset now) => string.Join(Environment.NewLine,
        $"key:           {holder.Key}",
        $"holder:        {holder.InstanceName}",
        $"session:       {holder.SessionId}",
        $"node:          {holder.Node ?? None}",
        $"since:         {Since(holder.AcquiredAt, now)}",
        $"fencing token: {holder.FencingToken.ToString(CultureInfo.InvariantCulture)}",
        $"trace parent:  {holder.TraceParent ?? None}",
        $"waiters:       {holder.Waiters.ToString(CultureInfo.InvariantCulture)}");

    public static string Change(string key, ConsulLockHolder? holder, DateTimeOffset seen) =>
        Timestamp(seen) + " " + key + (holder is null
            ? " free"
            : $" held by {holder.InstanceName} (session {holder.SessionId}, fencing token {holder.FencingToken.ToString(CultureInfo.InvariantCulture)}, {Waiting(holder.Waiters)})");

    public static string Waiting(int waiters) => waiters == 1 ? "1 waiter" : waiters.ToString(CultureInfo.InvariantCulture) + " waiters";

    /// <summary>When the holder took the key and how long ago: <c>2026-12-03T09:40:12Z (3m12s ago)</c>; "-" for a holder that wrote no time.</summary>
    public static string Since(DateTimeOffset? acquired, DateTimeOffset now) =>
        acquired is { } at ? $"{Timestamp(at)} ({Age(now - at)} ago)" : None;

    public static string Duration(TimeSpan span) => Age(span);

    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero)
        {
            // The holder's clock is ahead of ours.
            age = TimeSpan.Zero;
        }

        return age.TotalDays >= 1 ? $"{(int)age.TotalDays}d{age.Hours}h"
            : age.TotalHours >= 1 ? $"{(int)age.TotalHours}h{age.Minutes}m"
            : age.TotalMinutes >= 1 ? $"{(int)age.TotalMinutes}m{age.Seconds}s"
            : age.TotalSeconds >= 1 ? $"{(int)age.TotalSeconds}s"
            : $"{(int)age.TotalMilliseconds}ms";
    }
}
