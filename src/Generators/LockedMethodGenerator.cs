using System.Linq;
using ConsulLock.Aop.Generators.Common;
using ConsulLock.Aop.Generators.Emitting;
using ConsulLock.Aop.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators;

/// <summary>
/// Implements every partial method marked <c>[ConsulLocked]</c>: parse each into a spec, group the specs by
/// containing type, write one file per type. Problems are reported by <c>LockedMethodAnalyzer</c>, which runs the same
/// parser; a method with an error gets a placeholder that only throws, when C# lets one be declared, so the build
/// shows our error and not also the compiler's "partial method must have an implementation part".
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class LockedMethodGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var methods = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownTypes.AttributeName,
                static (node, _) => node is MethodDeclarationSyntax,
                static (attributeContext, cancellationToken) =>
                {
                    if (attributeContext.TargetSymbol is not IMethodSymbol method || attributeContext.Attributes.Length != 1)
                    {
                        return null;
                    }

                    var compilation = attributeContext.SemanticModel.Compilation;
                    LockedMethodParser.Run(
                        KnownTypes.For(compilation), compilation, method, (MethodDeclarationSyntax)attributeContext.TargetNode,
                        attributeContext.Attributes[0], out var spec, cancellationToken);
                    return spec;
                })
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.Methods);

        var types = methods
            .Collect()
            .SelectMany(static (all, _) => all
                .GroupBy(m => m.Type)
                .Select(group => new TypeSpec(group.Key, group.ToEquatableArray())))
            .WithTrackingName(TrackingNames.Types);

        context.RegisterSourceOutput(types, static (output, type) =>
            output.AddSource(type.Type.HintName, LockedMethodEmitter.Emit(type.Type, type.Methods)));
    }
}

/// <summary>The <c>[ConsulLocked]</c> methods of one type: the unit the generator writes a file for.</summary>
internal sealed record TypeSpec(TypeHierarchy Type, EquatableArray<MethodSpec> Methods);

/// <summary>Names of the pipeline's steps, so tests can check that each is cached when nothing relevant changed.</summary>
internal static class TrackingNames
{
    public const string Methods = nameof(Methods);
    public const string Types = nameof(Types);
}
