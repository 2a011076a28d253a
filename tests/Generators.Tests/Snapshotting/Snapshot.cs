using System.Text;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Generators.Tests.Snapshotting;

/// <summary>
/// Compares text with a checked-in expected file, <c>tests/Generators.Tests/Snapshots/&lt;name&gt;.verified.cs</c>. On a mismatch it writes <c>&lt;name&gt;.received.cs</c> beside it and fails with a line diff. To accept
/// new output, run the tests with <c>ACCEPT_SNAPSHOTS=1</c>: the expected files are rewritten and the test passes.
/// </summary>
internal static class Snapshot
{
    public const string AcceptVariable = "ACCEPT_SNAPSHOTS";

    /// <summary>
    /// The checked-in folder, found from the repository root above the test binaries. Not from
    /// <c>[CallerFilePath]</c>: CI builds map source paths to <c>/_/</c>, which exists on no disk.
    /// </summary>
    public static string Folder { get; } = Path.Combine(ConsulBinary.RepositoryRoot, "tests", "Generators.Tests", "Snapshots");

    public static void Match(string actual, string name) =>
        Match(actual, name, Folder, Environment.GetEnvironmentVariable(AcceptVariable) == "1");

    internal static void Match(string actual, string name, string folder, bool accept)
    {
        actual = Normalize(actual);
        var verified = Path.Combine(folder, name + ".verified.cs");
        var received = Path.Combine(folder, name + ".received.cs");
        if (accept)
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(verified, actual);
            File.Delete(received);
            return;
        }

        var expected = File.Exists(verified) ? Normalize(File.ReadAllText(verified)) : null;
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }

        File.WriteAllText(received, actual);
        throw new SnapshotMismatchException(expected is null
            ? $"No snapshot '{verified}' yet. The output is in '{received}'; run with {AcceptVariable}=1 to accept it."
            : $"The output differs from '{verified}' (new output in '{received}'; run with {AcceptVariable}=1 to accept it):\n{Diff(expected, actual)}");
    }

    /// <summary>A compact line diff: '-' lines only in the expected file, '+' lines only in the output, with their line numbers.</summary>
    internal static string Diff(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');

        // Longest common subsequence over lines; outputs are small, so the quadratic table is fine.
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var diff = new StringBuilder();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                diff.Append('+').Append(y + 1).Append(": ").AppendLine(b[y++]);
            }
            else
            {
                diff.Append('-').Append(x + 1).Append(": ").AppendLine(a[x++]);
            }
        }

        return diff.ToString();
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);
}

internal sealed class SnapshotMismatchException(string message) : Exception(message);
