using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;

namespace ConsulLock.Aop.Generators.CodeFixes;

/// <summary>
/// CLA006 for a missing body: adds the body method with the declaration's signature (and, when the declaration has
/// no <c>CancellationToken</c>, a last <c>ConsulLockContext</c> so the body can observe lock loss), throwing until
/// the user writes it.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(CreateBodyMethodCodeFix)), Shared]
public sealed class CreateBodyMethodCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("CLA006");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            // Only a missing body is mechanical to fix; a mismatched one needs the user's judgement.
            if (root?.FindToken(diagnostic.Location.SourceSpan.Start).Parent?.FirstAncestorOrSelf<MethodDeclarationSyntax>() is not { } method
                || !diagnostic.Properties.TryGetValue(LockedMethodParser.BodyNameProperty, out var bodyName) || bodyName is null)
            {
                continue;
            }

            context.RegisterCodeFix(
                CodeAction.Create(
                    $"Create the body method '{bodyName}'",
                    _ => Task.FromResult(context.Document.WithSyntaxRoot(root.InsertNodesAfter(method, new[] { BodyMethod(method, bodyName) }))),
                    "CLA006"),
                diagnostic);
        }
    }

    private static MethodDeclarationSyntax BodyMethod(MethodDeclarationSyntax declaration, string name)
    {
        // The generated code passes every argument, so the body needs no 'params', 'this' or default values; and
        // without them a last ConsulLockContext parameter is allowed after any of them.
        var parameters = declaration.ParameterList.WithParameters(SyntaxFactory.SeparatedList(declaration.ParameterList.Parameters.Select(p => p
            .WithModifiers(SyntaxFactory.TokenList(p.Modifiers.Where(m => !m.IsKind(SyntaxKind.ParamsKeyword) && !m.IsKind(SyntaxKind.ThisKeyword))))
            .WithDefault(null)
            .WithAttributeLists(default))));
        var hasToken = parameters.Parameters.Any(p => p.Type?.ToString() is "CancellationToken" or "System.Threading.CancellationToken" or "global::System.Threading.CancellationToken");
        if (!hasToken)
        {
            parameters = parameters.AddParameters(
                SyntaxFactory.Parameter(SyntaxFactory.Identifier("lockContext"))
                    .WithType(SyntaxFactory.ParseTypeName("global::ConsulLock.Aop.ConsulLockContext").WithAdditionalAnnotations(Microsoft.CodeAnalysis.Simplification.Simplifier.Annotation)));
        }

        var isStatic = declaration.Modifiers.Any(SyntaxKind.StaticKeyword);
        var modifiers = SyntaxFactory.TokenList(isStatic
            ? new[] { SyntaxFactory.Token(SyntaxKind.PrivateKeyword), SyntaxFactory.Token(SyntaxKind.StaticKeyword) }
            : new[] { SyntaxFactory.Token(SyntaxKind.PrivateKeyword) });
        // What the fix writes into the user's code: a body that throws until they write the real one, as IDE "generate method" fixes do.
        var notWritten = SyntaxFactory.ThrowExpression(SyntaxFactory.ParseExpression("new System.NotImplementedException()"));

        return SyntaxFactory.MethodDeclaration(declaration.ReturnType.WithoutTrivia(), SyntaxFactory.Identifier(name))
            .WithModifiers(modifiers)
            .WithTypeParameterList(declaration.TypeParameterList)
            .WithConstraintClauses(declaration.ConstraintClauses)
            .WithParameterList(parameters.WithoutTrivia())
            .WithExpressionBody(SyntaxFactory.ArrowExpressionClause(notWritten))
            .WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken))
            .WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithTrailingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Formatter.Annotation);
    }
}
