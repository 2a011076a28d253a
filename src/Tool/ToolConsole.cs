namespace ConsulLock.Aop.Tool;

/// <summary>Where the tool writes: results to standard output, failures to standard error, each line through <see cref="Secrets"/>.</summary>
internal sealed class ToolConsole(TextWriter output, TextWriter error, Secrets secrets)
{
    /// <summary>Writes a line of the command's result.</summary>
    public void Line(string text) => output.WriteLine(secrets.Redact(text));

    /// <summary>Writes a failure, prefixed with the tool's name, to standard error.</summary>
    public void Fail(string text) => error.WriteLine("consullock: " + secrets.Redact(text));

    /// <summary>Writes a note to standard error (kept off standard output, which scripts parse).</summary>
    public void Note(string text) => error.WriteLine(secrets.Redact(text));
}
