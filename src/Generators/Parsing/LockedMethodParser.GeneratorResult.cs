using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ConsulLock.Aop.Generators.Common;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Parsing;

// What the generator keeps of a target: the spec and its errors as equatable data, CLA013 for targets no lock can be
// generated for, and the errors that configuration silences, to be repeated where nothing silences them.
internal sealed partial class LockedMethodParser
{
    /// <summary>
    /// What the generator makes of one <c>[ConsulLocked]</c> target: the spec to emit and the errors to report, as
    /// equatable data. Warnings stay with the analyzer, where .editorconfig and <c>#pragma</c> govern them.
    /// </summary>
    public static ParseResult ForGenerator(KnownTypes types, Compilation compilation, ISymbol? target, SyntaxNode node, AttributeData attribute, CancellationToken cancellationToken)
    {
        if (UnsupportedTarget(target, node) is { } what)
        {
            var location = node switch
            {
                MethodDeclarationSyntax m => m.Identifier.GetLocation(),
                LocalFunctionStatementSyntax f => f.Identifier.GetLocation(),
                _ => attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? node.GetLocation(),
            };
            var error = DiagnosticInfo.From(Diagnostic.Create(DiagnosticDescriptors.NoLockCanBeGenerated, location, what), new[] { what });
            var hierarchy = target?.ContainingType is { } containing ? SymbolText.Hierarchy(containing) : new TypeHierarchy(null, EquatableArray<ContainingType>.Empty, "", "ConsulLocked.Errors.g.cs");
            return new ParseResult(Forced(hierarchy, new[] { error }, compilation, node.SyntaxTree), new[] { error }.ToEquatableArray());
        }

        var method = (IMethodSymbol)target!;
        if (!SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, types.MethodAttributeOf(method)?.AttributeClass))
        {
            // Another attribute of the method wins (KnownTypes.MethodAttributeOf): its parse reports the combination
            // (CLA019, CLA021) and writes the one implementation.
            return new ParseResult(null, EquatableArray<DiagnosticInfo>.Empty);
        }

        var parser = Run(types, compilation, method, (MethodDeclarationSyntax)node, attribute, out var spec, cancellationToken);
        var errors = parser._diagnostics
            .Where(d => d.Diagnostic.Severity == DiagnosticSeverity.Error)
            .Select(d => DiagnosticInfo.From(d.Diagnostic, d.Arguments))
            .ToList();
        if (errors.Count == 0)
        {
            return new ParseResult(spec, EquatableArray<DiagnosticInfo>.Empty);
        }

        var forced = errors.Where(e => IsLoweredByConfiguration(compilation, node.SyntaxTree, e.Id)).Select(e => $"{e.Id}: {e.Message()}").ToEquatableArray();
        var providerRead = spec is null && parser.AllContainingTypesArePartial() ? parser.ProviderToRead() : null;
        spec = spec switch
        {
            PlaceholderMethodSpec placeholder => placeholder with { ForcedErrors = forced },
            _ when forced.Count > 0 || providerRead is not null => new ErrorOnlySpec(SymbolText.Hierarchy(method.ContainingType), forced, providerRead, method.Name, parser.ProviderToReadIsStatic()),
            _ => null,
        };
        return new ParseResult(spec, errors.ToEquatableArray());
    }

    /// <summary>
    /// What the attribute is on, when that is something no lock can be generated for (CLA013): a lambda, a local
    /// function, an accessor or operator, an abstract or interface method. Null for an ordinary method.
    /// </summary>
    private static string? UnsupportedTarget(ISymbol? target, SyntaxNode node)
    {
        switch (node)
        {
            case LambdaExpressionSyntax or AnonymousMethodExpressionSyntax:
                return "a lambda";
            case LocalFunctionStatementSyntax:
                return "a local function";
            case AccessorDeclarationSyntax:
                return "a property or event accessor";
            case OperatorDeclarationSyntax or ConversionOperatorDeclarationSyntax:
                return "an operator";
            case DestructorDeclarationSyntax:
                return "a finalizer";
            case MethodDeclarationSyntax when target is not IMethodSymbol:
                return "a method";
            case MethodDeclarationSyntax method when target is IMethodSymbol symbol && !method.Modifiers.Any(SyntaxKind.PartialKeyword)
                && (symbol.IsAbstract || symbol.ContainingType.TypeKind == TypeKind.Interface):
                return symbol.ContainingType.TypeKind == TypeKind.Interface ? "an interface method without a body part" : "an abstract method";
            case MethodDeclarationSyntax:
                return null;
            default:
                return "a " + node.Kind().ToString();
        }
    }

    private static ErrorOnlySpec? Forced(TypeHierarchy hierarchy, IEnumerable<DiagnosticInfo> errors, Compilation compilation, SyntaxTree tree)
    {
        var forced = errors.Where(e => IsLoweredByConfiguration(compilation, tree, e.Id)).Select(e => $"{e.Id}: {e.Message()}").ToEquatableArray();
        return forced.Count == 0 ? null : new ErrorOnlySpec(hierarchy, forced);
    }

    /// <summary>
    /// Whether the build's configuration silences an error the generator reports: NoWarn (/nowarn) or a global config
    /// for its id, which the compiler applies to every diagnostic. (.editorconfig sections and <c>#pragma</c> apply
    /// per file, and our errors name their file by path, not by syntax tree, so those do not reach them: checked by a
    /// real build in PackageConsumerTests.) Such an error is repeated as a compiler error that nothing silences.
    /// </summary>
    private static bool IsLoweredByConfiguration(Compilation compilation, SyntaxTree tree, string id)
    {
        _ = tree;
        static bool Lowered(ReportDiagnostic report) => report is not (ReportDiagnostic.Error or ReportDiagnostic.Default);

        var options = compilation.Options;
        if (options.SpecificDiagnosticOptions.TryGetValue(id, out var specific) && Lowered(specific))
        {
            return true;
        }

        return options.SyntaxTreeOptionsProvider is { } provider
            && provider.TryGetGlobalDiagnosticValue(id, CancellationToken.None, out var global) && Lowered(global);
    }
}

/// <summary>What the generator keeps of one <c>[ConsulLocked]</c> target: the spec to emit and the errors to report.</summary>
internal sealed record ParseResult(MethodSpec? Spec, EquatableArray<DiagnosticInfo> Errors);
