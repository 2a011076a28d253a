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
            var types = new KnownTypes(start.Compilation);
            if (types.Attribute is null)
            {
                return;
            }

            start.RegisterSyntaxNodeAction(node => AnalyzeDeclaration(node, types), SyntaxKind.MethodDeclaration);
            start.RegisterOperationAction(operation => AnalyzeBodyUse(operation, types), OperationKind.Invocation, OperationKind.MethodReference);
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
    private static void AnalyzeBodyUse(OperationAnalysisContext context, KnownTypes types)
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

        var bodyDefinition = target.OriginalDefinition;
        foreach (var candidate in bodyDefinition.ContainingType.GetMembers().OfType<IMethodSymbol>())
        {
            if (!candidate.IsPartialDefinition || candidate.Name == target.Name)
            {
                continue;
            }

            var attribute = candidate.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, types.Attribute));
            if (attribute is not null && LockedMethodParser.BodyNameFor(candidate, attribute) == target.Name
                && candidate.Parameters.Length <= target.Parameters.Length && target.Parameters.Length <= candidate.Parameters.Length + 1)
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.BodyCalledDirectly, context.Operation.Syntax.GetLocation(), target.Name, candidate.Name));
                return;
            }
        }
    }
}
