using System.Collections.Generic;
using System.Linq;
using ConsulLock.Aop.Generators.Common;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Parsing;

/// <summary>Symbols written as C#: type names, identifiers, constraint clauses and the chain of containing types.</summary>
internal static class SymbolText
{
    /// <summary>Fully qualified with <c>global::</c> and nullable annotations: what generated code writes.</summary>
    public static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>As the user would write it: what messages show.</summary>
    public static readonly SymbolDisplayFormat ShortFormat = SymbolDisplayFormat.MinimallyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>A name as a C# identifier: <c>@class</c> for a keyword.</summary>
    public static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) is SyntaxKind.AwaitKeyword ? "@" + name : name;

    /// <summary><c>&lt;T, U&gt;</c>, or empty for a method that is not generic.</summary>
    public static string TypeParameterList(IMethodSymbol method) =>
        method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", method.TypeParameters.Select(t => Identifier(t.Name))) + ">";

    /// <summary><paramref name="name"/>, or <paramref name="name"/>2, 3… when a parameter already has it.</summary>
    public static string UnusedName(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (var i = 2; taken.Contains(candidate); i++)
        {
            candidate = name + i;
        }

        return candidate;
    }

    /// <summary>The <c>where</c> clause of a type parameter, or null when it has no constraint.</summary>
    public static string? Constraint(ITypeParameterSymbol parameter)
    {
        var parts = new List<string>();
        if (parameter.HasReferenceTypeConstraint)
        {
            parts.Add(parameter.ReferenceTypeConstraintNullableAnnotation == NullableAnnotation.Annotated ? "class?" : "class");
        }
        else if (parameter.HasUnmanagedTypeConstraint)
        {
            parts.Add("unmanaged");
        }
        else if (parameter.HasValueTypeConstraint)
        {
            parts.Add("struct");
        }
        else if (parameter.HasNotNullConstraint)
        {
            parts.Add("notnull");
        }

        parts.AddRange(parameter.ConstraintTypes.Select(t => t.ToDisplayString(TypeFormat)));
        if (parameter.HasConstructorConstraint && !parameter.HasValueTypeConstraint)
        {
            parts.Add("new()");
        }

        return parts.Count == 0 ? null : $"where {Identifier(parameter.Name)} : {string.Join(", ", parts)}";
    }

    /// <summary>The namespace and containing types of <paramref name="type"/>, as the emitter reopens them, and its file's hint name.</summary>
    public static TypeHierarchy Hierarchy(INamedTypeSymbol type)
    {
        var types = new List<ContainingType>();
        for (var current = type; current is not null; current = current.ContainingType)
        {
            var declaration = current.DeclaringSyntaxReferences.Select(r => r.GetSyntax()).OfType<TypeDeclarationSyntax>().FirstOrDefault();
            var keyword = declaration switch
            {
                RecordDeclarationSyntax record => "record" + (record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? " struct" : ""),
                StructDeclarationSyntax => "struct",
                InterfaceDeclarationSyntax => "interface",
                _ => "class",
            };
            var modifiers = declaration is null ? "partial" : string.Join(" ", declaration.Modifiers.Select(m => m.Text));
            var name = Identifier(current.Name)
                + (current.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", current.TypeParameters.Select(t => Identifier(t.Name))) + ">");
            types.Insert(0, new ContainingType(modifiers + " " + keyword, name));
        }

        // Keywords escaped (namespace @event.@class), as the fully qualified format writes them.
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n
            ? n.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat).Substring("global::".Length)
            : null;
        var qualified = type.ToDisplayString(TypeFormat);
        var hint = new string(type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat).Replace("global::", "")
            .Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_').ToArray());
        return new TypeHierarchy(ns, types.ToEquatableArray(), qualified, hint + ".ConsulLocked.g.cs");
    }
}
