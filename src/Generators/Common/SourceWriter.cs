using System.Text;

namespace ConsulLock.Aop.Generators.Common;

/// <summary>Writes C# source line by line with four-space indentation, the way a person would lay it out.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _depth;

    /// <summary>Writes a line at the current indentation; a line holding '\n' is written as several, each indented.</summary>
    public SourceWriter Line(string line = "")
    {
        foreach (var part in line.Split('\n'))
        {
            if (part.Length > 0)
            {
                _text.Append(' ', _depth * 4);
            }

            _text.Append(part).Append('\n');
        }

        return this;
    }

    /// <summary>Writes <paramref name="line"/> (if any) and an opening brace, and indents what follows.</summary>
    public SourceWriter Open(string? line = null)
    {
        if (line is not null)
        {
            Line(line);
        }

        Line("{");
        _depth++;
        return this;
    }

    public SourceWriter Close(string suffix = "")
    {
        _depth--;
        return Line("}" + suffix);
    }

    public SourceWriter Indent()
    {
        _depth++;
        return this;
    }

    public SourceWriter Outdent()
    {
        _depth--;
        return this;
    }

    public override string ToString() => _text.ToString();
}
