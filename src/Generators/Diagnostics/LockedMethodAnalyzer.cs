using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace ConsulLock.Aop.Generators.Diagnostics;

/// <summary>
/// Reports CLA001-CLA012. The checks of a declaration come from <see cref="LockedMethodParser"/>, the same code the
/// generator runs, reported from an analyzer so that <c>#pragma warning disable</c>, .editorconfig severities and
/// editor squiggles behave as for any other diagnostic.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LockedMethodAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.NotPartialMethod,
        DiagnosticDescriptors.ContainingTypeNotPartial,
        DiagnosticDescriptors.UnknownPlaceholder,
        DiagnosticDescriptors.MalformedKey,
        DiagnosticDescriptors.UnsupportedReturnType,
        DiagnosticDescriptors.BodyMismatch,
        DiagnosticDescriptors.BadDuration,
        DiagnosticDescriptors.UnsupportedParameter,
        DiagnosticDescriptors.BodyCannotObserveLoss,
        DiagnosticDescriptors.UnstablePlaceholder,
        DiagnosticDescriptors.SkipReturnsDefault,
        DiagnosticDescriptors.BodyCalledDirectly);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var types = KnownTypes.For(start.Compilation);
            if (types.Attribute is null)
            {
                return;
            }

            start.RegisterSyntaxNodeAction(node => AnalyzeDeclaration(node, types), SyntaxKind.MethodDeclaration);
            // Every call in the compilation is checked, so each type's locked methods are found once, not per call.
            var lockedMethodsByType = new ConcurrentDictionary<INamedTypeSymbol, ImmutableArray<(IMethodSymbol Method, string BodyName)>>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(
                operation => AnalyzeBodyUse(operation, type => lockedMethodsByType.GetOrAdd(type, t => LockedMethodsOf(t, types))),
                OperationKind.Invocation,
                OperationKind.MethodReference);
        });
    }

    private static void AnalyzeDeclaration(SyntaxNodeAnalysisContext context, KnownTypes types)
    {
        var syntax = (MethodDeclarationSyntax)context.Node;
        if (syntax.AttributeLists.Count == 0
            || context.SemanticModel.GetDeclaredSymbol(syntax, context.CancellationToken) is not IMethodSymbol method)
        {
            return;
        }

        // The implementing part of a partial method shares the attributes of the declaration: analyse the declaration only.
        var attribute = method.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, types.Attribute));
        if (attribute is null || attribute.ApplicationSyntaxReference?.SyntaxTree != syntax.SyntaxTree
            || !syntax.Span.Contains(attribute.ApplicationSyntaxReference.Span))
        {
            return;
        }

        var parser = LockedMethodParser.Run(types, context.Compilation, method, syntax, attribute, out _, context.CancellationToken);
        foreach (var diagnostic in parser.Diagnostics)
        {
            context.ReportDiagnostic(diagnostic);
        }
    }

    /// <summary>CLA012: a call to (or a delegate made from) a body method bypasses its lock.</summary>
    private static void AnalyzeBodyUse(
        OperationAnalysisContext context, Func<INamedTypeSymbol, ImmutableArray<(IMethodSymbol Method, string BodyName)>> lockedMethodsOf)
    {
        var target = context.Operation switch
        {
            IInvocationOperation invocation => invocation.TargetMethod,
            IMethodReferenceOperation reference => reference.Method,
            _ => null,
        };
        if (target is null || target.MethodKind != MethodKind.Ordinary)
        {
            return;
        }

        foreach (var (locked, bodyName) in lockedMethodsOf(target.OriginalDefinition.ContainingType))
        {
            if (bodyName == target.Name && locked.Name != target.Name
                && locked.Parameters.Length <= target.Parameters.Length && target.Parameters.Length <= locked.Parameters.Length + 1)
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.BodyCalledDirectly, context.Operation.Syntax.GetLocation(), target.Name, locked.Name));
                return;
            }
        }
    }

    private static ImmutableArray<(IMethodSymbol Method, string BodyName)> LockedMethodsOf(INamedTypeSymbol type, KnownTypes types) =>
        type.GetMembers().OfType<IMethodSymbol>()
            .Where(m => m.IsPartialDefinition)
            .Select(m => (Method: m, Attribute: m.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, types.Attribute))))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Method, LockedMethodParser.BodyNameFor(m.Method, m.Attribute!)))
            .ToImmutableArray();
}
