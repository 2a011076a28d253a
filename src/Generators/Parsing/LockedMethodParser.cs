using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Generators.Common;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Parsing;

/// <summary>
/// Turns a <c>[ConsulLocked]</c> method into a <see cref="LockedMethodSpec"/>, or into diagnostics that say what to
/// fix. The generator and the analyzer both call it, so what is reported and what is generated never disagree.
/// </summary>
/// <remarks>
/// One class in several files, one concern each: this file checks the declaration and puts the spec together;
/// <c>KeyBinding</c> binds the key template's placeholders, <c>BodyMatching</c> finds the body method,
/// <c>ProviderLookup</c> finds the lock provider, <c>Settings</c> reads the attribute's durations, and
/// <c>GeneratorResult</c> turns all that into what the generator keeps; <see cref="SymbolText"/> writes symbols as C#.
/// </remarks>
internal sealed partial class LockedMethodParser
{
    /// <summary>Set on CLA001 and on a CLA006 for a missing body: the name the body method should have.</summary>
    public const string BodyNameProperty = "BodyName";

    /// <summary>Set on a CLA003 whose placeholder differs from a parameter only in case: the placeholder as written.</summary>
    public const string PlaceholderProperty = "Placeholder";

    /// <summary>Set with <see cref="PlaceholderProperty"/>: where the placeholder starts in the template.</summary>
    public const string PlaceholderStartProperty = "PlaceholderStart";

    /// <summary>Set with <see cref="PlaceholderProperty"/>: the placeholder naming the parameter.</summary>
    public const string ReplacementProperty = "Replacement";

    private readonly KnownTypes _types;
    private readonly Compilation _compilation;
    private readonly IMethodSymbol _method;
    private readonly MethodDeclarationSyntax _syntax;
    private readonly AttributeData _attribute;
    private readonly List<(Diagnostic Diagnostic, string[] Arguments)> _diagnostics = new();
    private readonly CancellationToken _cancellationToken;
    private bool _canHavePlaceholder = true;
    private List<IParameterSymbol>? _primaryConstructorParameters;
    private string _template = "";

    // A [ConsulLeader] method: returns Task, takes a CancellationToken, campaigns (CLA017-CLA019).
    private readonly bool _isLeader;

    private LockedMethodParser(KnownTypes types, Compilation compilation, IMethodSymbol method, MethodDeclarationSyntax syntax, AttributeData attribute, CancellationToken cancellationToken)
    {
        _types = types;
        _compilation = compilation;
        _method = method;
        _syntax = syntax;
        _attribute = attribute;
        _cancellationToken = cancellationToken;
        _isLeader = types.LeaderAttribute is not null && SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, types.LeaderAttribute);
    }

    /// <summary>Everything the parser found wrong (errors and warnings), each with its location in the user's code.</summary>
    public IEnumerable<Diagnostic> Diagnostics => _diagnostics.Select(d => d.Diagnostic);

    /// <summary>The body method the lock runs, when one matched: calls to it elsewhere bypass the lock (CLA012).</summary>
    public IMethodSymbol? Body { get; private set; }

    /// <summary>Whether the attribute is <c>[ConsulSemaphore]</c>: the method runs under a permit, not a lock.</summary>
    private bool IsSemaphore => SymbolEqualityComparer.Default.Equals(_attribute.AttributeClass, _types.SemaphoreAttribute);

    private bool HasErrors => _diagnostics.Any(d => d.Diagnostic.Severity == DiagnosticSeverity.Error);

    /// <summary>Parses one method; <see cref="Diagnostics"/> of the returned parser hold what is wrong with it.</summary>
    public static LockedMethodParser Run(
        KnownTypes types, Compilation compilation, IMethodSymbol method, MethodDeclarationSyntax syntax, AttributeData attribute,
        out MethodSpec? spec, CancellationToken cancellationToken)
    {
        var parser = new LockedMethodParser(types, compilation, method, syntax, attribute, cancellationToken);
        var locked = parser.Parse();
        spec = locked is not null ? locked : parser.Placeholder();
        return parser;
    }

    /// <summary>The body method's name: <c>X</c> → <c>XCore</c>, <c>XAsync</c> → <c>XCoreAsync</c>, unless the attribute names one.</summary>
    public static string BodyNameFor(IMethodSymbol method, AttributeData attribute)
    {
        var named = NamedString(attribute, "Body");
        if (!string.IsNullOrEmpty(named))
        {
            return named!;
        }

        return ConventionalBodyName(method.Name);
    }

    private static string ConventionalBodyName(string name) =>
        name.EndsWith("Async", StringComparison.Ordinal)
            ? name.Substring(0, name.Length - "Async".Length) + "CoreAsync"
            : name + "Core";

    private LockedMethodSpec? Parse()
    {
        var bodyName = BodyNameFor(_method, _attribute);
        if (!_syntax.Modifiers.Any(SyntaxKind.PartialKeyword) || _syntax.Body is not null || _syntax.ExpressionBody is not null)
        {
            Report(
                DiagnosticDescriptors.NotPartialMethod, _syntax.Identifier.GetLocation(),
                ImmutableDictionary<string, string?>.Empty.Add(BodyNameProperty, bodyName), _method.Name, bodyName);
            return null;
        }

        if (HasHandWrittenImplementation())
        {
            // The implementation is the generator's to write; a second one would be a compiler error in generated code.
            Report(DiagnosticDescriptors.NotPartialMethod, _syntax.Identifier.GetLocation(), _method.Name, bodyName);
            return null;
        }

        if (IsSemaphore && _method.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _types.Attribute)))
        {
            // CLA021, reported for the semaphore only; the [ConsulLocked] parse stands aside (ForGenerator).
            Report(DiagnosticDescriptors.SemaphoreAndLock, _syntax.Identifier.GetLocation(), _method.Name);
            return null;
        }

        if (!CheckContainingTypesArePartial())
        {
            _canHavePlaceholder = false;
            return null;
        }

        var (returnKind, resultType) = ClassifyReturnType(_method.ReturnType);
        if (_isLeader && !CheckLeaderShape(returnKind))
        {
            returnKind = null; // reported by CLA017-CLA019; a body check would only add noise
        }
        else if (returnKind is null)
        {
            Report(DiagnosticDescriptors.UnsupportedReturnType, _syntax.ReturnType.GetLocation(), _method.Name, _method.ReturnType.ToDisplayString(SymbolText.ShortFormat));
        }

        CheckParameters();
        var keyTemplate = _attribute.ConstructorArguments.Length == 1 ? _attribute.ConstructorArguments[0].Value as string : null;
        var key = BindKey(keyTemplate ?? "");
        var settings = ParseSettings(returnKind);
        var body = returnKind is null ? null : FindBody(bodyName); // a body for an unsupported return type would only add noise
        var provider = FindProvider();

        if (HasErrors || returnKind is null || key is null || settings is null || body is null || provider is null)
        {
            return null;
        }

        var taken = NamesTakenForLocals();
        return new LockedMethodSpec(
            SymbolText.Hierarchy(_method.ContainingType),
            string.Join(" ", _syntax.Modifiers.Select(m => m.Text)),
            _method.ReturnType.ToDisplayString(SymbolText.TypeFormat),
            returnKind.Value,
            resultType,
            SymbolText.Identifier(_method.Name),
            SymbolText.TypeParameterList(_method),
            Constraints(),
            _method.Parameters.Select(p => new ParameterSpec(
                p.Type.ToDisplayString(SymbolText.TypeFormat),
                SymbolText.Identifier(p.Name),
                p.IsParams ? "params " : p.Ordinal == 0 && _method.IsExtensionMethod ? "this " : "")).ToEquatableArray(),
            keyTemplate!,
            key.Value,
            settings,
            FreeMemberName("LockSettings"),
            body,
            provider,
            _method.Parameters.FirstOrDefault(p => _types.IsCancellationToken(p.Type)) is { } token ? SymbolText.Identifier(token.Name) : null,
            SymbolText.UnusedName("lockKey", taken),
            SymbolText.UnusedName("lockContext", taken),
            _method.ContainingType.IsValueType && !_method.IsStatic && !body.IsStatic ? SymbolText.UnusedName("self", taken) : null,
            _isLeader);
    }

    /// <summary>
    /// CLA017-CLA019: a campaign runs until the caller's token fires and has no result, and a method is either a
    /// leader or locked, never both. False when one of them is reported.
    /// </summary>
    private bool CheckLeaderShape(ReturnKind? returnKind)
    {
        var ok = true;
        if (_method.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _types.Attribute)))
        {
            Report(DiagnosticDescriptors.LeaderAndLocked, _syntax.Identifier.GetLocation(), _method.Name, "ConsulLocked", "the lock");
            ok = false;
        }
        else if (_method.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _types.SemaphoreAttribute)))
        {
            Report(DiagnosticDescriptors.LeaderAndLocked, _syntax.Identifier.GetLocation(), _method.Name, "ConsulSemaphore", "a permit");
            ok = false;
        }

        if (returnKind != ReturnKind.Task)
        {
            Report(DiagnosticDescriptors.LeaderReturnType, _syntax.ReturnType.GetLocation(), BodyNamed, _method.Name, _method.ReturnType.ToDisplayString(SymbolText.ShortFormat));
            ok = false;
        }

        if (!_method.Parameters.Any(p => _types.IsCancellationToken(p.Type)))
        {
            Report(DiagnosticDescriptors.LeaderWithoutToken, _syntax.Identifier.GetLocation(), BodyNamed, _method.Name);
            ok = false;
        }

        return ok;
    }

    /// <summary>For the code fixes of CLA017 and CLA018, which change the body along with the declaration.</summary>
    private ImmutableDictionary<string, string?> BodyNamed => ImmutableDictionary<string, string?>.Empty.Add(BodyNameProperty, BodyNameFor(_method, _attribute));

    /// <summary>An implementing part the user wrote (the analyzer also sees the generator's own, in its .ConsulLocked.g.cs file).</summary>
    private bool HasHandWrittenImplementation() =>
        _method.PartialImplementationPart is { } implementation
        && implementation.DeclaringSyntaxReferences.Any(r => !IsGeneratedFile(r.SyntaxTree));

    /// <summary>
    /// The constraints the implementing declaration repeats: none for an override, whose constraints are inherited
    /// and may not be written again (CS0460).
    /// </summary>
    private EquatableArray<string> Constraints() =>
        _method.IsOverride
            ? EquatableArray<string>.Empty
            : _method.TypeParameters.Select(SymbolText.Constraint).Where(c => c is not null).Select(c => c!).ToEquatableArray();

    /// <summary>
    /// For a method with errors: an implementation that only throws, when one can be declared (a partial definition
    /// in partial types, not implemented by hand), so that CS8795 does not join our errors. Null otherwise.
    /// </summary>
    private PlaceholderMethodSpec? Placeholder()
    {
        if (!_canHavePlaceholder || !HasErrors || _method.PartialImplementationPart is not null
            || !_syntax.Modifiers.Any(SyntaxKind.PartialKeyword) || _syntax.Body is not null || _syntax.ExpressionBody is not null)
        {
            return null;
        }

        var returns = (_method.ReturnsByRefReadonly ? "ref readonly " : _method.ReturnsByRef ? "ref " : "")
            + _method.ReturnType.ToDisplayString(SymbolText.TypeFormat);
        var parameters = string.Join(", ", _method.Parameters.Select(p =>
        {
            var prefix = p.IsParams ? "params "
                : p.Ordinal == 0 && _method.IsExtensionMethod ? "this "
                : "";
            prefix += p.RefKind switch
            {
                RefKind.Ref => "ref ",
                RefKind.Out => "out ",
                RefKind.In => "in ",
                _ => p.RefKind != RefKind.None ? "ref readonly " : "",
            };
            return $"{prefix}{p.Type.ToDisplayString(SymbolText.TypeFormat)} {SymbolText.Identifier(p.Name)}";
        }));
        return new PlaceholderMethodSpec(
            SymbolText.Hierarchy(_method.ContainingType),
            EquatableArray<string>.Empty,
            SymbolText.Identifier(_method.Name),
            $"{string.Join(" ", _syntax.Modifiers.Select(m => m.Text))} {returns} {SymbolText.Identifier(_method.Name)}{SymbolText.TypeParameterList(_method)}({parameters})",
            Constraints(),
            ProviderToReadInMethod());
    }

    private bool AllContainingTypesArePartial()
    {
        for (var node = _syntax.Parent; node is TypeDeclarationSyntax type; node = node.Parent)
        {
            if (!type.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                return false;
            }
        }

        return _syntax.Parent is TypeDeclarationSyntax;
    }

    private bool CheckContainingTypesArePartial()
    {
        var ok = true;
        for (var node = _syntax.Parent; node is TypeDeclarationSyntax type; node = node.Parent)
        {
            if (!type.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                Report(DiagnosticDescriptors.ContainingTypeNotPartial, type.Identifier.GetLocation(), type.Identifier.Text, _method.Name);
                ok = false;
            }
        }

        return ok;
    }

    private (ReturnKind? Kind, string? ResultType) ClassifyReturnType(ITypeSymbol type)
    {
        if (type is not INamedTypeSymbol named)
        {
            return (null, null);
        }

        var definition = named.OriginalDefinition;
        if (SymbolEqualityComparer.Default.Equals(definition, _types.Task))
        {
            return (ReturnKind.Task, null);
        }

        if (SymbolEqualityComparer.Default.Equals(definition, _types.ValueTask))
        {
            return (ReturnKind.ValueTask, null);
        }

        if (SymbolEqualityComparer.Default.Equals(definition, _types.TaskOfT))
        {
            return (ReturnKind.TaskOfT, named.TypeArguments[0].ToDisplayString(SymbolText.TypeFormat));
        }

        if (SymbolEqualityComparer.Default.Equals(definition, _types.ValueTaskOfT))
        {
            return (ReturnKind.ValueTaskOfT, named.TypeArguments[0].ToDisplayString(SymbolText.TypeFormat));
        }

        return (null, null);
    }

    private void CheckParameters()
    {
        foreach (var parameter in _method.Parameters)
        {
            var problem = parameter.RefKind switch
            {
                RefKind.Ref => "a 'ref' parameter",
                RefKind.Out => "an 'out' parameter",
                RefKind.In => "an 'in' parameter",
                RefKind.None when parameter.Type.IsRefLikeType => $"of the ref struct type '{parameter.Type.ToDisplayString(SymbolText.ShortFormat)}'",
                _ => parameter.RefKind != RefKind.None ? "passed by reference" : null,
            };
            if (problem is not null)
            {
                Report(DiagnosticDescriptors.UnsupportedParameter, LocationOf(parameter), parameter.Name, _method.Name, problem);
            }
        }
    }

    private Location? ArgumentLocation(string name) =>
        AttributeSyntax()?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == name)?.Expression.GetLocation();

    private AttributeSyntax? AttributeSyntax() => _attribute.ApplicationSyntaxReference?.GetSyntax(_cancellationToken) as AttributeSyntax;

    private Location LocationOf(IParameterSymbol parameter) =>
        parameter.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(_cancellationToken).GetLocation() ?? _syntax.Identifier.GetLocation();

    private void Report(DiagnosticDescriptor descriptor, Location? location, params string[] arguments) =>
        Report(descriptor, location, ImmutableDictionary<string, string?>.Empty, arguments);

    private void Report(DiagnosticDescriptor descriptor, Location? location, ImmutableDictionary<string, string?> properties, params string[] arguments) =>
        _diagnostics.Add((Diagnostic.Create(descriptor, location ?? _syntax.Identifier.GetLocation(), properties, arguments), arguments));

    private static string? NamedString(AttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value as string;

    private static int NamedInt(AttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is int value ? value : 0;
}
