using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.CodeFixes;

/// <summary>
/// CLA002: declares the type <c>partial</c>. CLA001: declares the method <c>partial</c>; a method that has a body
/// keeps it, moved into the body method the generated code will call.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialCodeFix)), Shared]
public sealed class MakePartialCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("CLA001", "CLA002");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindToken(diagnostic.Location.SourceSpan.Start).Parent;
            if (diagnostic.Id == "CLA002" && node?.FirstAncestorOrSelf<TypeDeclarationSyntax>() is { } type)
            {
                context.RegisterCodeFix(
                    CodeAction.Create($"Make '{type.Identifier.Text}' partial", _ => Replace(context.Document, root, type, AddPartial(type)), "CLA002"),
                    diagnostic);
            }
            else if (diagnostic.Id == "CLA001" && node?.FirstAncestorOrSelf<MethodDeclarationSyntax>() is { } method
                && diagnostic.Properties.TryGetValue(LockedMethodParser.BodyNameProperty, out var bodyName) && bodyName is not null)
            {
                var title = method.Body is null && method.ExpressionBody is null
                    ? $"Make '{method.Identifier.Text}' partial"
                    : $"Make '{method.Identifier.Text}' partial and move its body to '{bodyName}'";
                context.RegisterCodeFix(
                    CodeAction.Create(title, cancellationToken => MakeMethodPartialAsync(context.Document, root, method, bodyName, cancellationToken), "CLA001"),
                    diagnostic);
            }
        }
    }

    private static Task<Document> MakeMethodPartialAsync(Document document, SyntaxNode root, MethodDeclarationSyntax method, string bodyName, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        var declaration = method
            .WithModifiers(SyntaxFactory.TokenList(method.Modifiers.Where(m => !m.IsKind(SyntaxKind.AsyncKeyword))))
            .WithBody(null)
            .WithExpressionBody(null)
            .WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken));
        declaration = AddPartial(declaration);
        if (method.Body is null && method.ExpressionBody is null)
        {
            return Replace(document, root, method, declaration);
        }

        // The body method: the old method under its new name, private, without the lock attribute.
        var accessibility = new[] { SyntaxKind.PublicKeyword, SyntaxKind.PrivateKeyword, SyntaxKind.ProtectedKeyword, SyntaxKind.InternalKeyword };
        var kept = method.Modifiers.Where(m => !accessibility.Any(a => m.IsKind(a)) && !m.IsKind(SyntaxKind.PartialKeyword)).ToList();
        var body = method
            .WithAttributeLists(default)
            .WithIdentifier(SyntaxFactory.Identifier(bodyName))
            .WithModifiers(SyntaxFactory.TokenList(new[] { SyntaxFactory.Token(SyntaxKind.PrivateKeyword) }.Concat(kept)))
            .WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Microsoft.CodeAnalysis.Formatting.Formatter.Annotation);

        var newRoot = root.ReplaceNode(method, new SyntaxNode[] { declaration, body });
        return Task.FromResult(document.WithSyntaxRoot(newRoot));
    }

    private static T AddPartial<T>(T node)
        where T : MemberDeclarationSyntax
    {
        var partial = SyntaxFactory.Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(SyntaxFactory.Space);
        if (node.Modifiers.Count == 0)
        {
            // Keep the member's leading trivia (comments, indentation) in front of the new first token.
            var first = node.GetFirstToken();
            var withoutTrivia = node.ReplaceToken(first, first.WithLeadingTrivia());
            return (T)withoutTrivia.WithModifiers(SyntaxFactory.TokenList(partial.WithLeadingTrivia(first.LeadingTrivia)));
        }

        // 'partial' goes last among the modifiers, right before the return type or the type keyword, as C# requires.
        return (T)node.WithModifiers(node.Modifiers.Add(partial));
    }

    private static Task<Document> Replace(Document document, SyntaxNode root, SyntaxNode oldNode, SyntaxNode newNode) =>
        Task.FromResult(document.WithSyntaxRoot(root.ReplaceNode(oldNode, newNode)));
}
