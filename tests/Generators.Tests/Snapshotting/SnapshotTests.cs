namespace ConsulLock.Aop.Generators.Tests.Snapshotting;

public sealed class SnapshotTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("snapshot-tests-").FullName;

    [Fact]
    public void Equal_text_passes_and_leaves_no_received_file()
    {
        File.WriteAllText(Path.Combine(_folder, "same.verified.cs"), "a\r\nb\n");
        Snapshot.Match("a\nb\n", "same", _folder, accept: false);
        Assert.False(File.Exists(Path.Combine(_folder, "same.received.cs")));
    }

    [Fact]
    public void Different_text_fails_with_a_line_diff_and_writes_the_received_file()
    {
        File.WriteAllText(Path.Combine(_folder, "changed.verified.cs"), "one\ntwo\nthree\n");
        var error = Assert.Throws<SnapshotMismatchException>(() => Snapshot.Match("one\nTWO\nthree\n", "changed", _folder, accept: false));
        Assert.Contains("-2: two", error.Message, StringComparison.Ordinal);
        Assert.Contains("+2: TWO", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("one", error.Message.Split('\n').Where(l => l.StartsWith('-') || l.StartsWith('+')), StringComparer.Ordinal);
        Assert.Equal("one\nTWO\nthree\n", File.ReadAllText(Path.Combine(_folder, "changed.received.cs")));
    }

    [Fact]
    public void A_missing_snapshot_fails_and_says_how_to_accept()
    {
        var error = Assert.Throws<SnapshotMismatchException>(() => Snapshot.Match("new", "missing", _folder, accept: false));
        Assert.Contains(Snapshot.AcceptVariable + "=1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Accepting_writes_the_verified_file_and_later_matches_pass()
    {
        Snapshot.Match("accepted\n", "accepted", _folder, accept: true);
        Assert.Equal("accepted\n", File.ReadAllText(Path.Combine(_folder, "accepted.verified.cs")));
        Snapshot.Match("accepted\n", "accepted", _folder, accept: false);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
