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
/// <c>ProviderLookup</c> finds the lock provider; <see cref="SymbolText"/> writes symbols as C#.
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
    private string _template = "";

    private LockedMethodParser(KnownTypes types, Compilation compilation, IMethodSymbol method, MethodDeclarationSyntax syntax, AttributeData attribute, CancellationToken cancellationToken)
    {
        _types = types;
        _compilation = compilation;
        _method = method;
        _syntax = syntax;
        _attribute = attribute;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Everything the parser found wrong (errors and warnings), each with its location in the user's code.</summary>
    public IEnumerable<Diagnostic> Diagnostics => _diagnostics.Select(d => d.Diagnostic);

    /// <summary>The body method the lock runs, when one matched: calls to it elsewhere bypass the lock (CLA012).</summary>
    public IMethodSymbol? Body { get; private set; }

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

    /// <summary>
    /// What the generator makes of one <c>[ConsulLocked]</c> target: the spec to emit and the errors to report, as
    /// equatable data. Warnings stay with the analyzer, where .editorconfig and <c>#pragma</c> govern them.
    /// </summary>
    public static ParseResult ForGenerator(KnownTypes types, Compilation compilation, ISymbol? target, SyntaxNode node, AttributeData attribute, CancellationToken cancellationToken)
    {
        if (UnsupportedTarget(target, node) is { } what)
        {
            var location = node switch
            {
                MethodDeclarationSyntax m => m.Identifier.GetLocation(),
                LocalFunctionStatementSyntax f => f.Identifier.GetLocation(),
                _ => attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? node.GetLocation(),
            };
            var error = DiagnosticInfo.From(Diagnostic.Create(DiagnosticDescriptors.NoLockCanBeGenerated, location, what), new[] { what });
            var hierarchy = target?.ContainingType is { } containing ? SymbolText.Hierarchy(containing) : new TypeHierarchy(null, EquatableArray<ContainingType>.Empty, "ConsulLocked.Errors.g.cs");
            return new ParseResult(Forced(hierarchy, new[] { error }, compilation, node.SyntaxTree), new[] { error }.ToEquatableArray());
        }

        var method = (IMethodSymbol)target!;
        var parser = Run(types, compilation, method, (MethodDeclarationSyntax)node, attribute, out var spec, cancellationToken);
        var errors = parser._diagnostics
            .Where(d => d.Diagnostic.Severity == DiagnosticSeverity.Error)
            .Select(d => DiagnosticInfo.From(d.Diagnostic, d.Arguments))
            .ToList();
        if (errors.Count == 0)
        {
            return new ParseResult(spec, EquatableArray<DiagnosticInfo>.Empty);
        }

        var forced = errors.Where(e => IsLoweredByConfiguration(compilation, node.SyntaxTree, e.Id)).Select(e => $"{e.Id}: {e.Message()}").ToEquatableArray();
        var providerRead = spec is null && parser.AllContainingTypesArePartial() ? parser.ProviderToRead() : null;
        spec = spec switch
        {
            PlaceholderMethodSpec placeholder => placeholder with { ForcedErrors = forced },
            _ when forced.Count > 0 || providerRead is not null => new ErrorOnlySpec(SymbolText.Hierarchy(method.ContainingType), forced, providerRead, method.Name, parser.ProviderToReadIsStatic()),
            _ => null,
        };
        return new ParseResult(spec, errors.ToEquatableArray());
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

    /// <summary>
    /// What the attribute is on, when that is something no lock can be generated for (CLA013): a lambda, a local
    /// function, an accessor or operator, an abstract or interface method. Null for an ordinary method.
    /// </summary>
    private static string? UnsupportedTarget(ISymbol? target, SyntaxNode node)
    {
        switch (node)
        {
            case LambdaExpressionSyntax or AnonymousMethodExpressionSyntax:
                return "a lambda";
            case LocalFunctionStatementSyntax:
                return "a local function";
            case AccessorDeclarationSyntax:
                return "a property or event accessor";
            case OperatorDeclarationSyntax or ConversionOperatorDeclarationSyntax:
                return "an operator";
            case DestructorDeclarationSyntax:
                return "a finalizer";
            case MethodDeclarationSyntax when target is not IMethodSymbol:
                return "a method";
            case MethodDeclarationSyntax method when target is IMethodSymbol symbol && !method.Modifiers.Any(SyntaxKind.PartialKeyword)
                && (symbol.IsAbstract || symbol.ContainingType.TypeKind == TypeKind.Interface):
                return symbol.ContainingType.TypeKind == TypeKind.Interface ? "an interface method without a body part" : "an abstract method";
            case MethodDeclarationSyntax:
                return null;
            default:
                return "a " + node.Kind().ToString();
        }
    }

    private static ErrorOnlySpec? Forced(TypeHierarchy hierarchy, IEnumerable<DiagnosticInfo> errors, Compilation compilation, SyntaxTree tree)
    {
        var forced = errors.Where(e => IsLoweredByConfiguration(compilation, tree, e.Id)).Select(e => $"{e.Id}: {e.Message()}").ToEquatableArray();
        return forced.Count == 0 ? null : new ErrorOnlySpec(hierarchy, forced);
    }

    /// <summary>
    /// Whether the build's configuration silences an error the generator reports: NoWarn (/nowarn) or a global config
    /// for its id, which the compiler applies to every diagnostic. (.editorconfig sections and <c>#pragma</c> apply
    /// per file, and our errors name their file by path, not by syntax tree, so those do not reach them: checked by a
    /// real build in PackageConsumerTests.) Such an error is repeated as a compiler error that nothing silences.
    /// </summary>
    private static bool IsLoweredByConfiguration(Compilation compilation, SyntaxTree tree, string id)
    {
        _ = tree;
        static bool Lowered(ReportDiagnostic report) => report is not (ReportDiagnostic.Error or ReportDiagnostic.Default);

        var options = compilation.Options;
        if (options.SpecificDiagnosticOptions.TryGetValue(id, out var specific) && Lowered(specific))
        {
            return true;
        }

        return options.SyntaxTreeOptionsProvider is { } provider
            && provider.TryGetGlobalDiagnosticValue(id, CancellationToken.None, out var global) && Lowered(global);
    }

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

        if (!CheckContainingTypesArePartial())
        {
            _canHavePlaceholder = false;
            return null;
        }

        var (returnKind, resultType) = ClassifyReturnType(_method.ReturnType);
        if (returnKind is null)
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

        var parameterNames = new HashSet<string>(_method.Parameters.Select(p => p.Name));
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
            body,
            provider,
            _method.Parameters.FirstOrDefault(p => _types.IsCancellationToken(p.Type)) is { } token ? SymbolText.Identifier(token.Name) : null,
            SymbolText.UnusedName("lockKey", parameterNames),
            SymbolText.UnusedName("lockContext", parameterNames),
            _method.ContainingType.IsValueType && !_method.IsStatic && !body.IsStatic ? SymbolText.UnusedName("self", parameterNames) : null);
    }

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
            ProviderToRead());
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

    private LockSettingsSpec? ParseSettings(ReturnKind? returnKind)
    {
        var ok = true;
        var wait = Duration("WaitTimeout", TimeSpan.Zero, null, ref ok);
        var ttl = Duration("SessionTtl", TimeSpan.FromSeconds(10), TimeSpan.FromHours(24), ref ok);
        var delay = Duration("LockDelay", TimeSpan.Zero, TimeSpan.FromSeconds(60), ref ok);
        var skip = NamedInt(_attribute, "OnTimeout") == 1;
        var delete = NamedInt(_attribute, "Behavior") == 1;
        if (skip && returnKind is ReturnKind.TaskOfT or ReturnKind.ValueTaskOfT)
        {
            var result = ((INamedTypeSymbol)_method.ReturnType).TypeArguments[0].ToDisplayString(SymbolText.ShortFormat);
            Report(DiagnosticDescriptors.SkipReturnsDefault, ArgumentLocation("OnTimeout"), _method.Name, result);
        }

        return ok ? new LockSettingsSpec(wait, skip, ttl, delay, delete) : null;
    }

    private DurationSpec? Duration(string property, TimeSpan min, TimeSpan? max, ref bool ok)
    {
        var text = NamedString(_attribute, property);
        if (text is null)
        {
            return null;
        }

        var range = max is null ? "" : $", between {ConsulDuration.Format(min)} and {(max.Value.TotalHours >= 1 ? $"{max.Value.TotalHours}h" : ConsulDuration.Format(max.Value))}";
        if (!ConsulDuration.TryParse(text, out var value, allowTimeSpanText: false))
        {
            Report(DiagnosticDescriptors.BadDuration, ArgumentLocation(property), property, text, "is not a duration", range);
            ok = false;
            return null;
        }

        if (value < min || (max is not null && value > max.Value))
        {
            Report(DiagnosticDescriptors.BadDuration, ArgumentLocation(property), property, text, "is out of range", range);
            ok = false;
            return null;
        }

        return new DurationSpec(value.Ticks, text);
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

/// <summary>What the generator keeps of one <c>[ConsulLocked]</c> target: the spec to emit and the errors to report.</summary>
internal sealed record ParseResult(MethodSpec? Spec, EquatableArray<DiagnosticInfo> Errors);
