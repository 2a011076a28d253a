using System.Linq;
using System.Threading;
using ConsulLock.Aop.Generators.Common;
using ConsulLock.Aop.Generators.Emitting;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators;

/// <summary>
/// Implements every partial method marked <c>[ConsulLocked]</c>: parse each into a spec, group the specs by
/// containing type, write one file per type; and reports the errors that stop the build.
/// </summary>
/// <remarks>
/// <para>
/// Why the generator reports errors itself, rather than leaving them to the analyzer as Roslyn's cookbook suggests: a
/// lock that is silently not taken is the worst outcome this library can have, so every error must stop every build
/// in which the generator runs. An analyzer does not: it is skipped with <c>RunAnalyzers=false</c>, its severities
/// can be lowered in .editorconfig, and the compiler does not run it at all when declaration errors (such as CS8795
/// for a method we could not implement) stop it first. The generator always runs.
/// </para>
/// <para>
/// What that costs, and how little: the parse step yields the spec and the errors as separate equatable values
/// (dotnet/runtime's approach for its Regex and LoggerMessage generators). The errors carry positions, which move with
/// every edit above the method, so that step re-runs on such an edit; the spec carries none, so the emitting steps
/// stay cached and no file is rewritten (see CacheabilityTests). Errors are turned into <see cref="Diagnostic"/>s only
/// in their own output. Their locations name the file by path, as dotnet/runtime's do, so .editorconfig severities and
/// <c>#pragma</c> do not reach them; a configuration that silences one anyway (NoWarn, a global config) gets it
/// repeated in the generated file as a compiler error (a use of an <c>[Obsolete(error: true)]</c> type), which
/// nothing silences.
/// </para>
/// <para>
/// The analyzer stays, for what fits it: the warnings (CLA009-CLA011), which users may tune or suppress per file, and
/// CLA012, which needs every call site in the compilation.
/// </para>
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class LockedMethodGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var results = ForAttribute(context, KnownTypes.AttributeName).WithTrackingName(TrackingNames.Results);
        var leaderResults = ForAttribute(context, KnownTypes.LeaderAttributeName).WithTrackingName(TrackingNames.LeaderResults);

        // [ConsulSemaphore]: the same parser and emitter, a permit instead of a lock.
        var semaphoreResults = ForAttribute(context, KnownTypes.SemaphoreAttributeName).WithTrackingName(TrackingNames.SemaphoreResults);

        // Lambdas have no declared symbol, and whether the attribute lookup above sees them depends on the compiler's
        // version: they are found by syntax instead (only lambdas that carry attributes reach the semantic check).
        var lambdaResults = context.SyntaxProvider
            .CreateSyntaxProvider(
                static (node, _) => node is LambdaExpressionSyntax { AttributeLists.Count: > 0 },
                static (syntaxContext, cancellationToken) => ForLambda(syntaxContext, cancellationToken))
            .Where(static result => result is not null)
            .Select(static (result, _) => result!)
            .WithTrackingName(TrackingNames.LambdaResults);

        var methods = results.Collect().Combine(leaderResults.Collect()).Combine(semaphoreResults.Collect())
            .SelectMany(static (all, _) => all.Left.Left.AddRange(all.Left.Right).AddRange(all.Right))
            .Select(static (result, _) => result.Spec)
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.Methods);

        var types = methods
            .Collect()
            .Combine(lambdaResults.Select(static (result, _) => result.Spec).Where(static spec => spec is not null).Select(static (spec, _) => spec!).Collect())
            .SelectMany(static (all, _) => all.Left.Concat(all.Right)
                .GroupBy(m => m.Type)
                .Select(group => new TypeSpec(group.Key, group.ToEquatableArray())))
            .WithTrackingName(TrackingNames.Types);

        context.RegisterSourceOutput(types, static (output, type) =>
            output.AddSource(type.Type.HintName, LockedMethodEmitter.Emit(type.Type, type.Methods)));

        context.RegisterSourceOutput(results.Select(static (result, _) => result.Errors).WithTrackingName(TrackingNames.Errors), ReportErrors);
        context.RegisterSourceOutput(leaderResults.Select(static (result, _) => result.Errors), ReportErrors);
        context.RegisterSourceOutput(lambdaResults.Select(static (result, _) => result.Errors), ReportErrors);
        context.RegisterSourceOutput(semaphoreResults.Select(static (result, _) => result.Errors), ReportErrors);
    }

    private static IncrementalValuesProvider<ParseResult> ForAttribute(IncrementalGeneratorInitializationContext context, string attributeName) =>
        context.SyntaxProvider.ForAttributeWithMetadataName(
            attributeName,
            static (node, _) => node is not LambdaExpressionSyntax,
            static (attributeContext, cancellationToken) => LockedMethodParser.ForGenerator(
                KnownTypes.For(attributeContext.SemanticModel.Compilation), attributeContext.SemanticModel.Compilation,
                attributeContext.TargetSymbol, attributeContext.TargetNode, attributeContext.Attributes[0], cancellationToken));

    private static void ReportErrors(SourceProductionContext output, EquatableArray<Diagnostics.DiagnosticInfo> errors)
    {
        foreach (var error in errors)
        {
            output.ReportDiagnostic(error.ToDiagnostic());
        }
    }

    private static ParseResult? ForLambda(GeneratorSyntaxContext syntaxContext, CancellationToken cancellationToken)
    {
        var lambda = (LambdaExpressionSyntax)syntaxContext.Node;
        var model = syntaxContext.SemanticModel;
        var types = KnownTypes.For(model.Compilation);
        if ((types.Attribute is null && types.LeaderAttribute is null && types.SemaphoreAttribute is null) || model.GetSymbolInfo(lambda, cancellationToken).Symbol is not IMethodSymbol symbol)
        {
            return null;
        }

        var attribute = types.MethodAttributeOf(symbol);
        return attribute is null ? null : LockedMethodParser.ForGenerator(types, model.Compilation, symbol, lambda, attribute, cancellationToken);
    }
}

/// <summary>The <c>[ConsulLocked]</c> methods of one type: the unit the generator writes a file for.</summary>
internal sealed record TypeSpec(TypeHierarchy Type, EquatableArray<MethodSpec> Methods);

/// <summary>Names of the pipeline's steps, so tests can check that each is cached when nothing relevant changed.</summary>
internal static class TrackingNames
{
    /// <summary>Each target parsed: its spec and its errors (re-runs when an edit moves the errors' positions).</summary>
    public const string Results = nameof(Results);

    public const string LeaderResults = nameof(LeaderResults);

    public const string LambdaResults = nameof(LambdaResults);

    /// <summary>Each <c>[ConsulSemaphore]</c> target parsed, as <see cref="Results"/>.</summary>
    public const string SemaphoreResults = nameof(SemaphoreResults);

    /// <summary>The specs alone, without positions: unchanged by edits that only move the method.</summary>
    public const string Methods = nameof(Methods);

    public const string Types = nameof(Types);

    public const string Errors = nameof(Errors);
}
