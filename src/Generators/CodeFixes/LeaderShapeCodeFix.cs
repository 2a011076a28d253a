using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;

namespace ConsulLock.Aop.Generators.CodeFixes;

/// <summary>
/// The shape of a <c>[ConsulLeader]</c> method: CLA017 adds a last <c>CancellationToken cancellationToken</c> to the
/// declaration (and <c>CancellationToken whileLeader</c> to its body, when the body has no token); CLA018 makes the
/// declaration and its body return <c>Task</c>.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(LeaderShapeCodeFix)), Shared]
public sealed class LeaderShapeCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("CLA017", "CLA018");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (root?.FindToken(diagnostic.Location.SourceSpan.Start).Parent?.FirstAncestorOrSelf<MethodDeclarationSyntax>() is not { } method
                || method.Parent is not TypeDeclarationSyntax type)
            {
                continue;
            }

            var bodyName = diagnostic.Properties.TryGetValue(Parsing.LockedMethodParser.BodyNameProperty, out var named) ? named : null;
            var bodies = type.Members.OfType<MethodDeclarationSyntax>().Where(m => m != method && m.Identifier.Text == bodyName).ToList();
            var addToken = diagnostic.Id == "CLA017";
            context.RegisterCodeFix(
                CodeAction.Create(
                    addToken ? "Add a CancellationToken parameter" : "Return Task",
                    _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNodes(
                        bodies.Prepend(method),
                        (original, _) => addToken ? WithToken(original, original == method ? "cancellationToken" : "whileLeader") : ReturningTask(original)))),
                    diagnostic.Id),
                diagnostic);
        }
    }

    private static MethodDeclarationSyntax WithToken(MethodDeclarationSyntax method, string name) =>
        method.ParameterList.Parameters.Any(p => p.Type?.ToString() is "CancellationToken" or "System.Threading.CancellationToken" or "global::System.Threading.CancellationToken")
            ? method
            : method.AddParameterListParameters(SyntaxFactory.Parameter(SyntaxFactory.Identifier(name))
                .WithType(SyntaxFactory.ParseTypeName("global::System.Threading.CancellationToken").WithAdditionalAnnotations(Simplifier.Annotation))
                .WithAdditionalAnnotations(Formatter.Annotation));

    private static MethodDeclarationSyntax ReturningTask(MethodDeclarationSyntax method) =>
        method.WithReturnType(SyntaxFactory.ParseTypeName("global::System.Threading.Tasks.Task")
            .WithAdditionalAnnotations(Simplifier.Annotation)
            .WithTriviaFrom(method.ReturnType));
}
