using System.Text.Json;

namespace Semaphores;

/// <summary>
/// One line of an instance's records: an export it planned, or the start or end of an export's body. Times are the
/// system clock's (UTC), so the records of instances on one machine compare.
/// </summary>
public sealed record ExportRecord(
    string Kind, string Instance, int Job, DateTimeOffset At,
    string? Key = null, string? Session = null, ulong FencingToken = 0, string? Outcome = null)
{
    public const string Planned = "planned";
    public const string Start = "start";
    public const string End = "end";
}

/// <summary>
/// Where this instance writes its records: a JSON-lines file of its own in the shared records folder. A line is
/// appended when a body starts and when it ends, so a body that never ended still shows.
/// </summary>
public sealed class ExportLog
{
    private readonly Lock _gate = new();
    private readonly string _path;

    public ExportLog(ExportOptions options)
    {
        Directory.CreateDirectory(options.Records);
        _path = Path.Combine(options.Records, options.Instance + ".jsonl");
        File.WriteAllText(_path, "");
    }

    public void Append(ExportRecord record)
    {
        var line = JsonSerializer.Serialize(record) + "\n";
        lock (_gate)
        {
            File.AppendAllText(_path, line);
        }
    }

    /// <summary>Every record in <paramref name="folder"/>, of every instance.</summary>
    public static IReadOnlyList<ExportRecord> ReadAll(string folder) =>
        Directory.EnumerateFiles(folder, "*.jsonl")
            .SelectMany(File.ReadLines)
            .Where(line => line.Length > 0)
            .Select(line => JsonSerializer.Deserialize<ExportRecord>(line) ?? throw new InvalidDataException($"An empty record in {folder}."))
            .ToList();
}
