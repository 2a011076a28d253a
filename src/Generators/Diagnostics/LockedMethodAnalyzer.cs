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
/// Reports the warnings (CLA009-CLA011) and CLA012. The checks of a declaration come from
/// <see cref="LockedMethodParser"/>, the same code the generator runs; the generator reports the errors itself, so that
/// they stop every build (see <see cref="LockedMethodGenerator"/>), and the analyzer reports what users may tune:
/// warnings, which <c>#pragma warning disable</c> and .editorconfig govern as for any other, and CLA012, which needs
/// every call site.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LockedMethodAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
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
            if (types.Attribute is null && types.LeaderAttribute is null && types.SemaphoreAttribute is null)
            {
                return;
            }

            start.RegisterSyntaxNodeAction(node => AnalyzeDeclaration(node, types), SyntaxKind.MethodDeclaration);
            // Every call in the compilation is checked, so each type's locked methods are found once, not per call.
            var lockedMethodsByType = new ConcurrentDictionary<INamedTypeSymbol, ImmutableArray<(IMethodSymbol Method, IMethodSymbol Body)>>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(
                operation => AnalyzeBodyUse(operation, type => lockedMethodsByType.GetOrAdd(type, t => LockedMethodsOf(t, types, start.Compilation, start.CancellationToken))),
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
        var attribute = types.MethodAttributeOf(method);
        if (attribute is null || attribute.ApplicationSyntaxReference?.SyntaxTree != syntax.SyntaxTree
            || !syntax.Span.Contains(attribute.ApplicationSyntaxReference.Span))
        {
            return;
        }

        var parser = LockedMethodParser.Run(types, context.Compilation, method, syntax, attribute, out _, context.CancellationToken);
        foreach (var diagnostic in parser.Diagnostics.Where(d => d.Severity != DiagnosticSeverity.Error))
        {
            context.ReportDiagnostic(diagnostic);
        }
    }

    /// <summary>
    /// CLA012: a call to (or a delegate made from) a body method bypasses its lock. The body is the method the
    /// generator matched, not any method of that name; calls from inside the body itself (recursion, already under
    /// the lock) are fine.
    /// </summary>
    private static void AnalyzeBodyUse(
        OperationAnalysisContext context, Func<INamedTypeSymbol, ImmutableArray<(IMethodSymbol Method, IMethodSymbol Body)>> lockedMethodsOf)
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

        var definition = target.OriginalDefinition;
        foreach (var (locked, body) in lockedMethodsOf(definition.ContainingType))
        {
            if (SymbolEqualityComparer.Default.Equals(definition, body.OriginalDefinition)
                && !SymbolEqualityComparer.Default.Equals(context.ContainingSymbol.OriginalDefinition, body.OriginalDefinition))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.BodyCalledDirectly, context.Operation.Syntax.GetLocation(), target.Name, locked.Name));
                return;
            }
        }
    }

    private static ImmutableArray<(IMethodSymbol Method, IMethodSymbol Body)> LockedMethodsOf(INamedTypeSymbol type, KnownTypes types, Compilation compilation, System.Threading.CancellationToken cancellationToken)
    {
        var result = ImmutableArray.CreateBuilder<(IMethodSymbol, IMethodSymbol)>();
        foreach (var method in type.GetMembers().OfType<IMethodSymbol>().Where(m => m.IsPartialDefinition))
        {
            var attribute = types.MethodAttributeOf(method);
            if (attribute is null || method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is not MethodDeclarationSyntax syntax)
            {
                continue;
            }

            var parser = LockedMethodParser.Run(types, compilation, method, syntax, attribute, out _, cancellationToken);
            if (parser.Body is { } body)
            {
                result.Add((method, body));
            }
        }

        return result.ToImmutable();
    }
}
