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
internal sealed class LockedMethodParser
{
    private static readonly SymbolDisplayFormat s_typeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private static readonly SymbolDisplayFormat s_shortFormat = SymbolDisplayFormat.MinimallyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

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
    private readonly List<Diagnostic> _diagnostics = new();
    private readonly HashSet<string> _keyPathRoots = new();
    private readonly CancellationToken _cancellationToken;

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
    public IReadOnlyList<Diagnostic> Diagnostics => _diagnostics;

    private bool _canHavePlaceholder = true;
    private string _template = "";

    private bool HasErrors => _diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>Parses one method; <see cref="Diagnostics"/> of the returned parser hold what is wrong with it.</summary>
    public static LockedMethodParser Run(
        KnownTypes types, Compilation compilation, IMethodSymbol method, MethodDeclarationSyntax syntax, AttributeData attribute,
        out MethodSpec? spec, CancellationToken cancellationToken)
    {
        var parser = new LockedMethodParser(types, compilation, method, syntax, attribute, cancellationToken);
        spec = (MethodSpec?)parser.Parse() ?? parser.Placeholder();
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

        return method.Name.EndsWith("Async", StringComparison.Ordinal)
            ? method.Name.Substring(0, method.Name.Length - "Async".Length) + "CoreAsync"
            : method.Name + "Core";
    }

    private LockedMethodSpec? Parse()
    {
        var bodyName = BodyNameFor(_method, _attribute);
        if (!_syntax.Modifiers.Any(SyntaxKind.PartialKeyword) || _syntax.Body is not null || _syntax.ExpressionBody is not null)
        {
            _diagnostics.Add(Diagnostic.Create(
                DiagnosticDescriptors.NotPartialMethod, _syntax.Identifier.GetLocation(),
                ImmutableDictionary<string, string?>.Empty.Add(BodyNameProperty, bodyName), _method.Name, bodyName));
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
            Report(DiagnosticDescriptors.UnsupportedReturnType, _syntax.ReturnType.GetLocation(), _method.Name, _method.ReturnType.ToDisplayString(s_shortFormat));
        }

        CheckParameters();
        var keyTemplate = _attribute.ConstructorArguments.Length == 1 ? _attribute.ConstructorArguments[0].Value as string : null;
        var key = ParseKey(keyTemplate ?? "");
        var settings = ParseSettings(returnKind);
        var body = returnKind is null ? null : FindBody(bodyName); // a body for an unsupported return type would only add noise
        var provider = FindProvider();

        if (HasErrors || returnKind is null || key is null || settings is null || body is null)
        {
            return null;
        }

        var parameterNames = new HashSet<string>(_method.Parameters.Select(p => p.Name));
        var keyFunctionParameters = _keyPathRoots.Count == 0
            ? EquatableArray<ParameterSpec>.Empty
            : _method.Parameters.Where(p => _keyPathRoots.Contains(p.Name))
                .Select(p => new ParameterSpec(p.Type.ToDisplayString(s_typeFormat), Identifier(p.Name), "")).ToEquatableArray();
        return new LockedMethodSpec(
            Hierarchy(_method.ContainingType),
            string.Join(" ", _syntax.Modifiers.Select(m => m.Text)),
            _method.ReturnType.ToDisplayString(s_typeFormat),
            returnKind.Value,
            resultType,
            Identifier(_method.Name),
            _method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", _method.TypeParameters.Select(t => Identifier(t.Name))) + ">",
            _method.TypeParameters.Select(Constraint).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            _method.Parameters.Select(p => new ParameterSpec(
                p.Type.ToDisplayString(s_typeFormat),
                Identifier(p.Name),
                p.IsParams ? "params " : p.Ordinal == 0 && _method.IsExtensionMethod ? "this " : "")).ToEquatableArray(),
            keyTemplate!,
            key.Value,
            keyFunctionParameters,
            settings,
            body,
            provider,
            _method.Parameters.FirstOrDefault(p => _types.IsCancellationToken(p.Type)) is { } token ? Identifier(token.Name) : null,
            UnusedName("lockKey", parameterNames),
            UnusedName("lockContext", parameterNames),
            _method.ContainingType.IsValueType && !_method.IsStatic ? UnusedName("self", parameterNames) : null);
    }

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
            + _method.ReturnType.ToDisplayString(s_typeFormat);
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
            return $"{prefix}{p.Type.ToDisplayString(s_typeFormat)} {Identifier(p.Name)}";
        }));
        var typeParameters = _method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", _method.TypeParameters.Select(t => Identifier(t.Name))) + ">";
        return new PlaceholderMethodSpec(
            Hierarchy(_method.ContainingType),
            Identifier(_method.Name),
            $"{string.Join(" ", _syntax.Modifiers.Select(m => m.Text))} {returns} {Identifier(_method.Name)}{typeParameters}({parameters})",
            _method.TypeParameters.Select(Constraint).Where(c => c is not null).Select(c => c!).ToEquatableArray());
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
            return (ReturnKind.TaskOfT, named.TypeArguments[0].ToDisplayString(s_typeFormat));
        }

        if (SymbolEqualityComparer.Default.Equals(definition, _types.ValueTaskOfT))
        {
            return (ReturnKind.ValueTaskOfT, named.TypeArguments[0].ToDisplayString(s_typeFormat));
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
                RefKind.None when parameter.Type.IsRefLikeType => $"of the ref struct type '{parameter.Type.ToDisplayString(s_shortFormat)}'",
                _ => parameter.RefKind != RefKind.None ? "passed by reference" : null,
            };
            if (problem is not null)
            {
                Report(DiagnosticDescriptors.UnsupportedParameter, LocationOf(parameter), parameter.Name, _method.Name, problem);
            }
        }
    }

    private EquatableArray<KeyPart>? ParseKey(string template)
    {
        _template = template;
        var parsed = KeyTemplate.Parse(template);
        if (parsed.Error is not null)
        {
            Report(DiagnosticDescriptors.MalformedKey, KeyLocation(parsed.ErrorStart, parsed.ErrorLength), template, parsed.Error);
            return null;
        }

        var parts = new List<KeyPart>();
        var ok = true;
        foreach (var token in parsed.Tokens)
        {
            if (!token.IsPlaceholder)
            {
                parts.Add(new KeyPart(true, token.Text, ""));
                continue;
            }

            var expression = ResolvePlaceholder(token);
            if (expression is null)
            {
                ok = false;
                continue;
            }

            parts.Add(new KeyPart(false, expression, token.Text));
        }

        return ok ? parts.ToEquatableArray() : null;
    }

    /// <summary>
    /// Resolves <c>order.Customer.Id</c> to a C# expression. Steps through reference types and nullable values with
    /// <c>?.</c>, so a null anywhere on the path reaches <c>LockKey.FormatSegment</c> as null and is reported there
    /// as an <see cref="ArgumentNullException"/> naming the parameter, not as a <see cref="NullReferenceException"/>.
    /// </summary>
    private string? ResolvePlaceholder(KeyTemplate.Token token)
    {
        var path = token.Path;
        var location = KeyLocation(token.Start, token.Length);
        var rootName = Unescape(path[0]);
        var parameter = _method.Parameters.FirstOrDefault(p => p.Name == rootName);
        if (parameter is null)
        {
            var near = _method.Parameters.FirstOrDefault(p => string.Equals(p.Name, rootName, StringComparison.OrdinalIgnoreCase));
            var properties = ImmutableDictionary<string, string?>.Empty;
            var written = token.Start >= 0 && token.Start + token.Length <= _template.Length ? _template.Substring(token.Start, token.Length) : "";
            if (near is not null && written.Length > path[0].Length + 1 && string.CompareOrdinal(written, 1, path[0], 0, path[0].Length) == 0)
            {
                // For the code fix: the placeholder as written, where it starts in the template, and what to write instead.
                properties = properties
                    .Add(PlaceholderProperty, written)
                    .Add(PlaceholderStartProperty, token.Start.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Add(ReplacementProperty, written.Substring(0, 1) + near.Name + written.Substring(1 + path[0].Length));
            }

            _diagnostics.Add(Diagnostic.Create(
                DiagnosticDescriptors.UnknownPlaceholder, location ?? _syntax.Identifier.GetLocation(), properties,
                token.Text, $"no parameter '{rootName}'", _method.Name, near is null ? "" : $" (did you mean '{{{near.Name}}}'?)"));
            return null;
        }

        var expression = Identifier(parameter.Name);
        var type = parameter.Type;
        for (var i = 1; i < path.Length; i++)
        {
            var memberName = Unescape(path[i]);
            var stepType = UnderlyingIfNullable(type);
            var member = FindReadableMember(stepType, memberName);
            if (member is null)
            {
                Report(
                    DiagnosticDescriptors.UnknownPlaceholder, location, token.Text,
                    $"no readable property or field '{memberName}' on '{stepType.ToDisplayString(s_shortFormat)}'", _method.Name,
                    " and a path of its properties or fields");
                return null;
            }

            if (CanBeNull(type))
            {
                _keyPathRoots.Add(parameter.Name);
                expression += "?.";
            }
            else
            {
                expression += ".";
            }

            expression += Identifier(member.Value.Name);
            type = member.Value.Type;
        }

        CheckStableText(token, location, type);
        return expression;
    }

    private (string Name, ITypeSymbol Type)? FindReadableMember(ITypeSymbol type, string name)
    {
        foreach (var candidate in MemberLookupTypes(type))
        {
            foreach (var member in candidate.GetMembers(name))
            {
                if (member.IsStatic || !_compilation.IsSymbolAccessibleWithin(member, _method.ContainingType))
                {
                    continue;
                }

                switch (member)
                {
                    case IPropertySymbol { GetMethod: not null, Parameters.Length: 0 } property
                        when property.GetMethod is { } getter && _compilation.IsSymbolAccessibleWithin(getter, _method.ContainingType):
                        return (property.Name, property.Type);
                    case IFieldSymbol field:
                        return (field.Name, field.Type);
                }
            }
        }

        return null;
    }

    private void CheckStableText(KeyTemplate.Token token, Location location, ITypeSymbol type)
    {
        type = UnderlyingIfNullable(type);
        if (type.TypeKind is TypeKind.TypeParameter or TypeKind.Enum || type.SpecialType == SpecialType.System_String
            || (_types.Formattable is not null && type.AllInterfaces.Contains(_types.Formattable, SymbolEqualityComparer.Default)))
        {
            return;
        }

        string? problem = null;
        if (type.TypeKind == TypeKind.Delegate)
        {
            problem = "a delegate";
        }
        else if (type.TypeKind == TypeKind.Array || type.AllInterfaces.Any(i => i.SpecialType == SpecialType.System_Collections_IEnumerable))
        {
            problem = "a collection";
        }
        else if (type.SpecialType != SpecialType.System_Boolean && type.SpecialType != SpecialType.System_Char && !OverridesToString(type))
        {
            problem = "which does not override ToString";
        }

        if (problem is not null)
        {
            Report(DiagnosticDescriptors.UnstablePlaceholder, location, token.Text, type.ToDisplayString(s_shortFormat), problem);
        }
    }

    private static bool OverridesToString(ITypeSymbol type)
    {
        if (type.TypeKind == TypeKind.Interface)
        {
            return false;
        }

        foreach (var candidate in BaseTypes(type))
        {
            if (candidate.SpecialType is SpecialType.System_Object or SpecialType.System_ValueType or SpecialType.System_Enum)
            {
                return false;
            }

            if (candidate.GetMembers("ToString").OfType<IMethodSymbol>().Any(m => m.Parameters.Length == 0 && !m.IsStatic))
            {
                return true;
            }
        }

        return false;
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
            var result = ((INamedTypeSymbol)_method.ReturnType).TypeArguments[0].ToDisplayString(s_shortFormat);
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

    private BodyCallSpec? FindBody(string bodyName)
    {
        var location = ArgumentLocation("Body") ?? _syntax.Identifier.GetLocation();
        var declared = string.Join(", ", _method.Parameters.Select(p => $"{p.Type.ToDisplayString(s_shortFormat)} {p.Name}"));
        var returns = _method.ReturnType.ToDisplayString(s_shortFormat);
        var hasToken = _method.Parameters.Any(p => _types.IsCancellationToken(p.Type));
        var tokenHint = hasToken ? "" : " or a CancellationToken";
        var candidates = _method.ContainingType.GetMembers(bodyName).OfType<IMethodSymbol>().ToList();
        if (candidates.Count == 0)
        {
            // The code fix that creates the body reads its name from here.
            var properties = ImmutableDictionary<string, string?>.Empty.Add(BodyNameProperty, bodyName);
            _diagnostics.Add(Diagnostic.Create(
                DiagnosticDescriptors.BodyMismatch, _syntax.Identifier.GetLocation(), properties,
                $"The body method '{bodyName}' does not exist", bodyName, returns, declared, tokenHint));
            return null;
        }

        string? firstProblem = null;
        foreach (var candidate in candidates)
        {
            var problem = MatchBody(candidate, hasToken, out var extra);
            if (problem is null)
            {
                if (extra == BodyExtra.None && !hasToken)
                {
                    Report(DiagnosticDescriptors.BodyCannotObserveLoss, _syntax.Identifier.GetLocation(), bodyName, _method.Name);
                }

                var typeArguments = _method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", _method.TypeParameters.Select(t => Identifier(t.Name))) + ">";
                return new BodyCallSpec(Identifier(bodyName), typeArguments, extra);
            }

            firstProblem ??= problem;
        }

        Report(DiagnosticDescriptors.BodyMismatch, location, $"The body method '{bodyName}' {firstProblem}", bodyName, returns, declared, tokenHint);
        return null;
    }

    private string? MatchBody(IMethodSymbol body, bool declarationHasToken, out BodyExtra extra)
    {
        extra = BodyExtra.None;
        if (body.TypeParameters.Length != _method.TypeParameters.Length)
        {
            return $"has {body.TypeParameters.Length} type parameters, not {_method.TypeParameters.Length}";
        }

        if (_method.IsStatic && !body.IsStatic)
        {
            return "is an instance method, but a static method can only call a static body";
        }

        var constructed = body.TypeParameters.Length == 0 ? body : body.Construct(_method.TypeParameters.Cast<ITypeSymbol>().ToArray());
        if (!SymbolEqualityComparer.Default.Equals(constructed.ReturnType, _method.ReturnType))
        {
            return $"returns '{body.ReturnType.ToDisplayString(s_shortFormat)}'";
        }

        var count = _method.Parameters.Length;
        if (constructed.Parameters.Length < count || constructed.Parameters.Length > count + 1)
        {
            return $"takes {constructed.Parameters.Length} parameters";
        }

        // The context may also come just before a last CancellationToken, where .NET's guidelines (CA1068) want the token.
        var contextBeforeToken = constructed.Parameters.Length == count + 1 && count > 0
            && _types.IsCancellationToken(_method.Parameters[count - 1].Type)
            && _types.IsContext(constructed.Parameters[count - 1].Type)
            && _types.IsCancellationToken(constructed.Parameters[count].Type);
        if (contextBeforeToken)
        {
            extra = BodyExtra.ContextBeforeToken;
            count--;
        }

        for (var i = 0; i < count; i++)
        {
            if (!SymbolEqualityComparer.Default.Equals(constructed.Parameters[i].Type, _method.Parameters[i].Type) || constructed.Parameters[i].RefKind != RefKind.None)
            {
                return $"takes '{body.Parameters[i].Type.ToDisplayString(s_shortFormat)} {body.Parameters[i].Name}' where '{_method.Parameters[i].Type.ToDisplayString(s_shortFormat)} {_method.Parameters[i].Name}' is declared";
            }
        }

        if (!contextBeforeToken && constructed.Parameters.Length == count + 1)
        {
            var last = constructed.Parameters[count].Type;
            if (_types.IsContext(last))
            {
                extra = BodyExtra.Context;
            }
            else if (!declarationHasToken && _types.IsCancellationToken(last))
            {
                extra = BodyExtra.CancellationToken;
            }
            else
            {
                return $"takes an extra last parameter of type '{last.ToDisplayString(s_shortFormat)}'";
            }
        }

        return null;
    }

    private ProviderSpec FindProvider()
    {
        var fallback = new ProviderSpec("global::ConsulLock.Aop.ConsulLocking.Default", "ConsulLocking.Default");
        if (_method.IsStatic)
        {
            return fallback;
        }

        foreach (var type in BaseTypes(_method.ContainingType))
        {
            foreach (var member in type.GetMembers())
            {
                _cancellationToken.ThrowIfCancellationRequested();
                var memberType = member switch
                {
                    IFieldSymbol { IsImplicitlyDeclared: false } field => field.Type,
                    IPropertySymbol { GetMethod: not null, Parameters.Length: 0 } property => property.Type,
                    _ => null,
                };
                if (memberType is not null && _types.IsProvider(memberType) && _compilation.IsSymbolAccessibleWithin(member, _method.ContainingType))
                {
                    var access = member.IsStatic ? Identifier(member.Name) : "this." + Identifier(member.Name);
                    return new ProviderSpec(access, $"the {(member is IFieldSymbol ? "field" : "property")} '{member.Name}'");
                }
            }
        }

        foreach (var reference in _method.ContainingType.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(_cancellationToken) is TypeDeclarationSyntax { ParameterList: { } list } declaration and not RecordDeclarationSyntax)
            {
                var model = _compilation.GetSemanticModel(declaration.SyntaxTree);
                foreach (var parameter in list.Parameters)
                {
                    if (model.GetDeclaredSymbol(parameter, _cancellationToken) is { } symbol && _types.IsProvider(symbol.Type))
                    {
                        return new ProviderSpec(Identifier(symbol.Name), $"the primary constructor parameter '{symbol.Name}'");
                    }
                }
            }
        }

        return fallback;
    }

    private static TypeHierarchy Hierarchy(INamedTypeSymbol type)
    {
        var types = new List<ContainingType>();
        for (var current = type; current is not null; current = current.ContainingType)
        {
            var declaration = current.DeclaringSyntaxReferences.Select(r => r.GetSyntax()).OfType<TypeDeclarationSyntax>().FirstOrDefault();
            var keyword = declaration switch
            {
                RecordDeclarationSyntax record => "record" + (record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? " struct" : ""),
                StructDeclarationSyntax => "struct",
                InterfaceDeclarationSyntax => "interface",
                _ => "class",
            };
            var modifiers = declaration is null ? "partial" : string.Join(" ", declaration.Modifiers.Select(m => m.Text));
            var name = Identifier(current.Name)
                + (current.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", current.TypeParameters.Select(t => Identifier(t.Name))) + ">");
            types.Insert(0, new ContainingType(modifiers + " " + keyword, name));
        }

        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        var hint = new string(type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat).Replace("global::", "")
            .Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_').ToArray());
        return new TypeHierarchy(ns, types.ToEquatableArray(), hint + ".ConsulLocked.g.cs");
    }

    private static string? Constraint(ITypeParameterSymbol parameter)
    {
        var parts = new List<string>();
        if (parameter.HasReferenceTypeConstraint)
        {
            parts.Add(parameter.ReferenceTypeConstraintNullableAnnotation == NullableAnnotation.Annotated ? "class?" : "class");
        }
        else if (parameter.HasUnmanagedTypeConstraint)
        {
            parts.Add("unmanaged");
        }
        else if (parameter.HasValueTypeConstraint)
        {
            parts.Add("struct");
        }
        else if (parameter.HasNotNullConstraint)
        {
            parts.Add("notnull");
        }

        parts.AddRange(parameter.ConstraintTypes.Select(t => t.ToDisplayString(s_typeFormat)));
        if (parameter.HasConstructorConstraint && !parameter.HasValueTypeConstraint)
        {
            parts.Add("new()");
        }

        return parts.Count == 0 ? null : $"where {Identifier(parameter.Name)} : {string.Join(", ", parts)}";
    }

    private Location KeyLocation(int start, int length)
    {
        // Point into the string literal when its text maps one to one onto the template; otherwise at the literal.
        var argument = AttributeSyntax()?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals is null && a.NameColon is null);
        if (argument?.Expression is LiteralExpressionSyntax literal && literal.IsKind(SyntaxKind.StringLiteralExpression))
        {
            var quote = literal.Token.Text.StartsWith("@", StringComparison.Ordinal) ? 2 : 1;
            if (literal.Token.Text.Length == literal.Token.ValueText.Length + quote + 1)
            {
                var span = new Microsoft.CodeAnalysis.Text.TextSpan(literal.Token.SpanStart + quote + start, Math.Max(length, 0));
                return Location.Create(literal.SyntaxTree, span);
            }

            return literal.GetLocation();
        }

        return argument?.GetLocation() ?? _syntax.Identifier.GetLocation();
    }

    private Location? ArgumentLocation(string name) =>
        AttributeSyntax()?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == name)?.Expression.GetLocation();

    private AttributeSyntax? AttributeSyntax() => _attribute.ApplicationSyntaxReference?.GetSyntax(_cancellationToken) as AttributeSyntax;

    private Location LocationOf(IParameterSymbol parameter) =>
        parameter.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(_cancellationToken).GetLocation() ?? _syntax.Identifier.GetLocation();

    private void Report(DiagnosticDescriptor descriptor, Location? location, params object[] arguments) =>
        _diagnostics.Add(Diagnostic.Create(descriptor, location ?? _syntax.Identifier.GetLocation(), arguments));

    private static IEnumerable<ITypeSymbol> BaseTypes(ITypeSymbol type)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            yield return current;
        }
    }

    /// <summary>Where a member of <paramref name="type"/> can be declared: its base types, its interfaces, or a type parameter's constraints.</summary>
    private static IEnumerable<ITypeSymbol> MemberLookupTypes(ITypeSymbol type)
    {
        if (type is ITypeParameterSymbol parameter)
        {
            return parameter.ConstraintTypes.SelectMany(MemberLookupTypes);
        }

        return type.TypeKind == TypeKind.Interface ? new[] { type }.Concat(type.AllInterfaces) : BaseTypes(type);
    }

    private static ITypeSymbol UnderlyingIfNullable(ITypeSymbol type) =>
        type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable ? nullable.TypeArguments[0] : type;

    private static bool CanBeNull(ITypeSymbol type) =>
        type.IsReferenceType || type.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T;

    private static string Unescape(string name) => name.StartsWith("@", StringComparison.Ordinal) ? name.Substring(1) : name;

    private static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) is SyntaxKind.AwaitKeyword ? "@" + name : name;

    private static string UnusedName(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (var i = 2; taken.Contains(candidate); i++)
        {
            candidate = name + i;
        }

        return candidate;
    }

    private static string? NamedString(AttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value as string;

    private static int NamedInt(AttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is int value ? value : 0;
}
