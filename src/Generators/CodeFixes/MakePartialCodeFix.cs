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

    private static readonly SyntaxKind[] s_accessibility = { SyntaxKind.PublicKeyword, SyntaxKind.PrivateKeyword, SyntaxKind.ProtectedKeyword, SyntaxKind.InternalKeyword };

    // What only the declaration may carry: a private body method cannot override, be virtual, hide or be sealed.
    private static readonly SyntaxKind[] s_declarationOnly = { SyntaxKind.OverrideKeyword, SyntaxKind.VirtualKeyword, SyntaxKind.SealedKeyword, SyntaxKind.NewKeyword, SyntaxKind.AbstractKeyword, SyntaxKind.ExternKeyword, SyntaxKind.PartialKeyword };

    private static Task<Document> MakeMethodPartialAsync(Document document, SyntaxNode root, MethodDeclarationSyntax method, string bodyName, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        var declaration = method
            .WithModifiers(SyntaxFactory.TokenList(method.Modifiers.Where(m => !m.IsKind(SyntaxKind.AsyncKeyword))))
            .WithBody(null)
            .WithExpressionBody(null)
            .WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken).WithTrailingTrivia(method.GetLastToken().TrailingTrivia));
        if (!declaration.Modifiers.Any(m => s_accessibility.Any(a => m.IsKind(a))))
        {
            // A partial method that returns a value needs an explicit accessibility; 'private' is what it had implicitly.
            declaration = AddModifier(declaration, SyntaxKind.PrivateKeyword, first: true);
        }

        declaration = AddPartial(declaration);
        if (method.Body is null && method.ExpressionBody is null)
        {
            return Replace(document, root, method, declaration);
        }

        // The body method: the old method under its new name, private, without the lock attribute, its docs or the
        // modifiers that only the declaration may carry.
        var kept = method.Modifiers.Where(m => !s_accessibility.Any(a => m.IsKind(a)) && !s_declarationOnly.Any(k => m.IsKind(k)))
            .Select(m => m.WithoutTrivia().WithTrailingTrivia(SyntaxFactory.Space));
        var body = method
            .WithAttributeLists(default)
            .WithModifiers(SyntaxFactory.TokenList(new[] { SyntaxFactory.Token(SyntaxKind.PrivateKeyword).WithTrailingTrivia(SyntaxFactory.Space) }.Concat(kept)))
            .WithIdentifier(SyntaxFactory.Identifier(bodyName))
            .WithReturnType(method.ReturnType.WithoutLeadingTrivia())
            .WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Microsoft.CodeAnalysis.Formatting.Formatter.Annotation);

        var newRoot = root.ReplaceNode(method, new SyntaxNode[] { declaration, body });
        return Task.FromResult(document.WithSyntaxRoot(newRoot));
    }

    private static T AddPartial<T>(T node)
        where T : MemberDeclarationSyntax => AddModifier(node, SyntaxKind.PartialKeyword, first: false);

    /// <summary>
    /// Adds a modifier: first among them, or last (right before the return type or type keyword, where C# wants
    /// 'partial'). When there are none yet, it takes over the leading trivia of the token after the attributes, so a
    /// doc comment stays above the attributes and the indentation stays where it was.
    /// </summary>
    private static T AddModifier<T>(T node, SyntaxKind kind, bool first)
        where T : MemberDeclarationSyntax
    {
        var modifier = SyntaxFactory.Token(kind).WithTrailingTrivia(SyntaxFactory.Space);
        if (node.Modifiers.Count == 0)
        {
            var next = node.AttributeLists.Count > 0 ? node.AttributeLists.Last().GetLastToken().GetNextToken() : node.GetFirstToken();
            var withoutTrivia = node.ReplaceToken(next, next.WithLeadingTrivia());
            return (T)withoutTrivia.WithModifiers(SyntaxFactory.TokenList(modifier.WithLeadingTrivia(next.LeadingTrivia)));
        }

        if (first)
        {
            var current = node.Modifiers[0];
            var modifiers = node.Modifiers.Replace(current, current.WithLeadingTrivia()).Insert(0, modifier.WithLeadingTrivia(current.LeadingTrivia));
            return (T)node.WithModifiers(modifiers);
        }

        return (T)node.WithModifiers(node.Modifiers.Add(modifier));
    }

    private static Task<Document> Replace(Document document, SyntaxNode root, SyntaxNode oldNode, SyntaxNode newNode) =>
        Task.FromResult(document.WithSyntaxRoot(root.ReplaceNode(oldNode, newNode)));
}
