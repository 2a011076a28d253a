using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using ConsulLock.Aop.Generators.Common;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Parsing;

// Key binding: the template's placeholders bound to parameters and member paths, as C# expressions (CLA003, CLA004,
// CLA010, CLA014).
internal sealed partial class LockedMethodParser
{
    private const string Segments = "global::ConsulLock.Aop.CompilerServices.LockKeySegment";

    private EquatableArray<KeyPart>? BindKey(string template)
    {
        _template = template;
        var parsed = KeyTemplate.Parse(template);
        if (parsed.Error is not null)
        {
            Report(DiagnosticDescriptors.MalformedKey, KeyLocation(parsed.ErrorStart, parsed.ErrorLength), template, parsed.Error);
            return null;
        }

        var parts = new List<KeyPart>();
        var ok = true;
        foreach (var token in parsed.Tokens)
        {
            if (!token.IsPlaceholder)
            {
                parts.Add(new KeyPart(true, token.Text, ""));
                continue;
            }

            var expression = BindPlaceholder(token);
            if (expression is null)
            {
                ok = false;
                continue;
            }

            parts.Add(new KeyPart(false, expression, token.Text, token.Format));
        }

        return ok ? parts.ToEquatableArray() : null;
    }

    /// <summary>
    /// Binds <c>order.Customer.Id</c> to a C# expression. A step that can be null is written <c>(x ?? throw …)</c>, so a
    /// null on the path is an <see cref="ArgumentNullException"/> naming the parameter, not a
    /// <see cref="NullReferenceException"/>; unlike <c>?.</c>, this works on unconstrained type parameters and leaves
    /// the arguments' nullable state as the body call needs it. The last value may be null: the runtime reports it.
    /// </summary>
    private string? BindPlaceholder(KeyTemplate.Token token)
    {
        var path = token.Path;
        var location = KeyLocation(token.Start, token.Length);
        var rootName = Unescape(path[0]);
        var parameter = _method.Parameters.FirstOrDefault(p => p.Name == rootName);
        if (parameter is null)
        {
            ReportUnknownParameter(token, path, rootName, location);
            return null;
        }

        var expression = SymbolText.Identifier(parameter.Name);
        var type = parameter.Type;
        for (var i = 1; i < path.Length; i++)
        {
            var memberName = Unescape(path[i]);
            var stepType = UnderlyingIfNullable(type);
            var member = FindReadableMember(stepType, memberName);
            if (member is null)
            {
                Report(
                    DiagnosticDescriptors.UnknownPlaceholder, location, token.Text,
                    $"no readable property or field '{memberName}' on '{stepType.ToDisplayString(SymbolText.ShortFormat)}'", _method.Name,
                    " and a path of its properties or fields");
                return null;
            }

            if (CanBeNull(type))
            {
                var reached = string.Join(".", path.Take(i));
                expression = $"({expression} ?? throw {Segments}.NullOnPath({SymbolDisplay.FormatLiteral(token.Text, quote: true)}, {SymbolDisplay.FormatLiteral(reached, quote: true)}))";
            }

            expression += "." + SymbolText.Identifier(member.Value.Name);
            type = member.Value.Type;
        }

        if (token.Format is null)
        {
            CheckStableText(token, location, type);
            return expression;
        }

        return CheckFormat(token, location, type) ? expression : null;
    }

    private void ReportUnknownParameter(KeyTemplate.Token token, string[] path, string rootName, Location location)
    {
        var near = _method.Parameters.FirstOrDefault(p => string.Equals(p.Name, rootName, StringComparison.OrdinalIgnoreCase));
        var properties = ImmutableDictionary<string, string?>.Empty;
        var written = token.Start >= 0 && token.Start + token.Length <= _template.Length ? _template.Substring(token.Start, token.Length) : "";
        if (near is not null && written.Length > path[0].Length + 1 && string.CompareOrdinal(written, 1, path[0], 0, path[0].Length) == 0)
        {
            // For the code fix: the placeholder as written, where it starts in the template, and what to write instead.
            properties = properties
                .Add(PlaceholderProperty, written)
                .Add(PlaceholderStartProperty, token.Start.ToString(CultureInfo.InvariantCulture))
                .Add(ReplacementProperty, written.Substring(0, 1) + near.Name + written.Substring(1 + path[0].Length));
        }

        Report(
            DiagnosticDescriptors.UnknownPlaceholder, location, properties,
            token.Text, $"no parameter '{rootName}'", _method.Name, near is null ? "" : $" (did you mean '{{{near.Name}}}'?)");
    }

    private (string Name, ITypeSymbol Type)? FindReadableMember(ITypeSymbol type, string name)
    {
        foreach (var candidate in MemberLookupTypes(type))
        {
            foreach (var member in candidate.GetMembers(name))
            {
                if (member.IsStatic || !_compilation.IsSymbolAccessibleWithin(member, _method.ContainingType))
                {
                    continue;
                }

                switch (member)
                {
                    case IPropertySymbol { GetMethod: not null, Parameters.Length: 0 } property
                        when property.GetMethod is { } getter && _compilation.IsSymbolAccessibleWithin(getter, _method.ContainingType):
                        return (property.Name, property.Type);
                    case IFieldSymbol field:
                        return (field.Name, field.Type);
                }
            }
        }

        return null;
    }

    /// <summary>CLA010: a value whose text does not identify it (no ToString of its own, a record's compiler-written one, a collection).</summary>
    private void CheckStableText(KeyTemplate.Token token, Location location, ITypeSymbol type)
    {
        type = UnderlyingIfNullable(type);
        if (type.TypeKind is TypeKind.TypeParameter or TypeKind.Enum || type.SpecialType == SpecialType.System_String || IsFormattable(type))
        {
            return;
        }

        string? problem = null;
        if (type.TypeKind == TypeKind.Delegate)
        {
            problem = "a delegate";
        }
        else if (type.TypeKind == TypeKind.Array || type.AllInterfaces.Any(i => i.SpecialType == SpecialType.System_Collections_IEnumerable))
        {
            problem = "a collection";
        }
        else if (type.SpecialType != SpecialType.System_Boolean && type.SpecialType != SpecialType.System_Char)
        {
            problem = WrittenToString(type) switch
            {
                ToStringKind.None => "which does not override ToString",
                ToStringKind.RecordGenerated => "a record whose compiler-written ToString lists every member with the current culture",
                _ => null,
            };
        }

        if (problem is not null)
        {
            Report(DiagnosticDescriptors.UnstablePlaceholder, location, token.Text, type.ToDisplayString(SymbolText.ShortFormat), problem);
        }
    }

    private enum ToStringKind
    {
        None,
        RecordGenerated,
        Written,
    }

    /// <summary>Whether <paramref name="type"/> or a base type below object declares its own ToString, and who wrote it.</summary>
    private static ToStringKind WrittenToString(ITypeSymbol type)
    {
        if (type.TypeKind == TypeKind.Interface)
        {
            return ToStringKind.None;
        }

        foreach (var candidate in BaseTypes(type))
        {
            if (candidate.SpecialType is SpecialType.System_Object or SpecialType.System_ValueType or SpecialType.System_Enum)
            {
                return ToStringKind.None;
            }

            var toString = candidate.GetMembers("ToString").OfType<IMethodSymbol>().FirstOrDefault(m => m.Parameters.Length == 0 && !m.IsStatic);
            if (toString is not null)
            {
                return toString.IsImplicitlyDeclared ? ToStringKind.RecordGenerated : ToStringKind.Written;
            }
        }

        return ToStringKind.None;
    }

    /// <summary>
    /// CLA014: a format needs an <see cref="IFormattable"/> value that accepts it. For the framework's own types the
    /// format is tried on a sample value here, at compile time, with the invariant culture the runtime uses.
    /// </summary>
    private bool CheckFormat(KeyTemplate.Token token, Location location, ITypeSymbol type)
    {
        var format = token.Format!;
        var valueType = UnderlyingIfNullable(type);
        string? problem = null;
        string fix = "remove the format or give the placeholder a value that takes it";
        if (format.Length == 0)
        {
            problem = "the format is empty";
            fix = "write a format after the ':' or remove the ':'";
        }
        else if (!IsFormattable(valueType))
        {
            problem = $"'{valueType.ToDisplayString(SymbolText.ShortFormat)}' is not IFormattable, so it takes no format";
        }
        else if (SampleFormatError(valueType, format) is { } error)
        {
            problem = $"'{valueType.ToDisplayString(SymbolText.ShortFormat)}' cannot take it ({error})";
            fix = "use a format that type documents";
        }

        if (problem is null)
        {
            return true;
        }

        Report(DiagnosticDescriptors.BadPlaceholderFormat, location, token.Text, format, problem, fix);
        return false;
    }

    private bool IsFormattable(ITypeSymbol type) =>
        _types.Formattable is not null
        && (SymbolEqualityComparer.Default.Equals(type, _types.Formattable)
            || type.AllInterfaces.Contains(_types.Formattable, SymbolEqualityComparer.Default)
            || (type is ITypeParameterSymbol parameter && parameter.ConstraintTypes.Any(IsFormattable)));

    /// <summary>Formats a sample of a framework type with <paramref name="format"/>; the exception's message, or null when it worked or the type is not known here.</summary>
    private static string? SampleFormatError(ITypeSymbol type, string format)
    {
        IFormattable? sample = type.SpecialType switch
        {
            SpecialType.System_Byte => (byte)1,
            SpecialType.System_SByte => (sbyte)1,
            SpecialType.System_Int16 => (short)1,
            SpecialType.System_UInt16 => (ushort)1,
            SpecialType.System_Int32 => 1,
            SpecialType.System_UInt32 => 1u,
            SpecialType.System_Int64 => 1L,
            SpecialType.System_UInt64 => 1uL,
            SpecialType.System_Single => 1.5f,
            SpecialType.System_Double => 1.5d,
            SpecialType.System_Decimal => 1.5m,
            SpecialType.System_DateTime => new DateTime(2025, 1, 15, 10, 30, 0, DateTimeKind.Utc),
            _ => null,
        };
        if (sample is null && type.ContainingNamespace?.ToDisplayString() == "System")
        {
            sample = type.MetadataName switch
            {
                "Guid" => Guid.Empty,
                "DateTimeOffset" => new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero),
                "TimeSpan" => TimeSpan.FromMinutes(90),
                _ => null,
            };
        }

        if (sample is null && type.TypeKind == TypeKind.Enum)
        {
            sample = DayOfWeek.Monday; // every enum takes the same formats
        }

        if (sample is null)
        {
            return null;
        }

        try
        {
            _ = sample.ToString(format, CultureInfo.InvariantCulture);
            return null;
        }
        catch (FormatException exception)
        {
            return exception.Message.TrimEnd('.');
        }
    }

    private Location KeyLocation(int start, int length)
    {
        // Point into the string literal when its text maps one to one onto the template; otherwise at the literal.
        var argument = AttributeSyntax()?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals is null && a.NameColon is null);
        if (argument?.Expression is LiteralExpressionSyntax literal && literal.IsKind(SyntaxKind.StringLiteralExpression))
        {
            var quote = literal.Token.Text.StartsWith("@", StringComparison.Ordinal) ? 2 : 1;
            if (literal.Token.Text.Length == literal.Token.ValueText.Length + quote + 1)
            {
                var span = new Microsoft.CodeAnalysis.Text.TextSpan(literal.Token.SpanStart + quote + start, Math.Max(length, 0));
                return Location.Create(literal.SyntaxTree, span);
            }

            return literal.GetLocation();
        }

        return argument?.GetLocation() ?? _syntax.Identifier.GetLocation();
    }

    private static IEnumerable<ITypeSymbol> BaseTypes(ITypeSymbol type)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            yield return current;
        }
    }

    /// <summary>Where a member of <paramref name="type"/> can be declared: its base types, its interfaces, or a type parameter's constraints.</summary>
    private static IEnumerable<ITypeSymbol> MemberLookupTypes(ITypeSymbol type)
    {
        if (type is ITypeParameterSymbol parameter)
        {
            return parameter.ConstraintTypes.SelectMany(MemberLookupTypes);
        }

        return type.TypeKind == TypeKind.Interface ? new[] { type }.Concat(type.AllInterfaces) : BaseTypes(type);
    }

    private static ITypeSymbol UnderlyingIfNullable(ITypeSymbol type) =>
        type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable ? nullable.TypeArguments[0] : type;

    /// <summary>Whether <c>??</c> applies: a reference type, a nullable value type, or a type parameter not known to be a value type.</summary>
    private static bool CanBeNull(ITypeSymbol type) =>
        type.IsReferenceType
        || type.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T
        || (type is ITypeParameterSymbol { HasValueTypeConstraint: false, HasUnmanagedTypeConstraint: false } parameter
            && !parameter.ConstraintTypes.Any(t => t.IsValueType));

    private static string Unescape(string name) => name.StartsWith("@", StringComparison.Ordinal) ? name.Substring(1) : name;
}
