using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using ConsulLock.Aop.Generators.Common;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace ConsulLock.Aop.Generators.Diagnostics;

/// <summary>
/// A diagnostic as plain, equatable data: the descriptor's id, where it points (file, span, lines) and its message
/// arguments as text. The generator carries these through its pipeline instead of <see cref="Diagnostic"/> objects,
/// which hold a <see cref="Location"/> and through it a syntax tree, and turns them into diagnostics only at output,
/// as dotnet/runtime's generators do.
/// </summary>
internal sealed record DiagnosticInfo(
    string Id,
    string FilePath,
    int Start,
    int Length,
    int StartLine,
    int StartCharacter,
    int EndLine,
    int EndCharacter,
    EquatableArray<string> Arguments,
    EquatableArray<PropertyInfo> Properties)
{
    public static DiagnosticInfo From(Diagnostic diagnostic, IEnumerable<string> arguments)
    {
        var location = diagnostic.Location;
        var lines = location.GetLineSpan().Span;
        return new DiagnosticInfo(
            diagnostic.Id,
            location.SourceTree?.FilePath ?? "",
            location.SourceSpan.Start,
            location.SourceSpan.Length,
            lines.Start.Line,
            lines.Start.Character,
            lines.End.Line,
            lines.End.Character,
            arguments.ToEquatableArray(),
            diagnostic.Properties.OrderBy(p => p.Key).Select(p => new PropertyInfo(p.Key, p.Value)).ToEquatableArray());
    }

    public DiagnosticSeverity Severity => DiagnosticDescriptors.ById(Id).DefaultSeverity;

    /// <summary>The diagnostic, pointing into the user's file by path and position (no syntax tree is kept).</summary>
    public Diagnostic ToDiagnostic() => Diagnostic.Create(
        DiagnosticDescriptors.ById(Id),
        Location.Create(FilePath, new TextSpan(Start, Length), new LinePositionSpan(new LinePosition(StartLine, StartCharacter), new LinePosition(EndLine, EndCharacter))),
        Properties.ToImmutableDictionary(p => p.Key, p => p.Value),
        Arguments.Cast<object?>().ToArray());

    /// <summary>The message as the build would print it, for a generated <c>#error</c>.</summary>
    public string Message() => string.Format(System.Globalization.CultureInfo.InvariantCulture, DiagnosticDescriptors.ById(Id).MessageFormat.ToString(System.Globalization.CultureInfo.InvariantCulture), Arguments.Cast<object?>().ToArray());
}

/// <summary>One entry of a diagnostic's properties, which code fixes read.</summary>
internal sealed record PropertyInfo(string Key, string? Value);
