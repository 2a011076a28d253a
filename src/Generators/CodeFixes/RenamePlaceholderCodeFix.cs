using System;
using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Threading.Tasks;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.CodeFixes;

/// <summary>
/// CLA003 for a placeholder that differs from a parameter only in case (<c>{Id}</c> for <c>id</c>): rewrites the
/// placeholder in the key template to name the parameter.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RenamePlaceholderCodeFix)), Shared]
public sealed class RenamePlaceholderCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("CLA003");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (root?.FindToken(diagnostic.Location.SourceSpan.Start).Parent is not LiteralExpressionSyntax literal
                || !literal.IsKind(SyntaxKind.StringLiteralExpression)
                || !diagnostic.Properties.TryGetValue(LockedMethodParser.PlaceholderProperty, out var placeholder) || placeholder is null
                || !diagnostic.Properties.TryGetValue(LockedMethodParser.ReplacementProperty, out var replacement) || replacement is null
                || !diagnostic.Properties.TryGetValue(LockedMethodParser.PlaceholderStartProperty, out var startText)
                || !int.TryParse(startText, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
            {
                continue;
            }

            // The template as C# sees it, escapes resolved; the placeholder must still be where the analyzer saw it.
            var template = literal.Token.ValueText;
            if (start + placeholder.Length > template.Length || string.CompareOrdinal(template, start, placeholder, 0, placeholder.Length) != 0)
            {
                continue;
            }

            var fixedTemplate = template.Substring(0, start) + replacement + template.Substring(start + placeholder.Length);
            var fixedLiteral = literal.WithToken(SyntaxFactory.Literal(fixedTemplate).WithTriviaFrom(literal.Token));
            context.RegisterCodeFix(
                CodeAction.Create(
                    $"Use '{replacement}'",
                    _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(literal, fixedLiteral))),
                    "CLA003"),
                diagnostic);
        }
    }
}
