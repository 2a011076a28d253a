using System;
using System.Collections.Immutable;
using System.Linq;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Parsing;

// Body matching: the method the lock runs, its parameters, return type and constraints checked against the
// declaration (CLA006, CLA009).
internal sealed partial class LockedMethodParser
{
    private static readonly SymbolEqualityComparer s_withNullability = SymbolEqualityComparer.IncludeNullability;

    private BodyCallSpec? FindBody(string bodyName)
    {
        var location = ArgumentLocation("Body") ?? _syntax.Identifier.GetLocation();
        var declared = string.Join(", ", _method.Parameters.Select(p => $"{p.Type.ToDisplayString(SymbolText.ShortFormat)} {p.Name}"));
        var returns = _method.ReturnType.ToDisplayString(SymbolText.ShortFormat);
        var hasToken = _method.Parameters.Any(p => _types.IsCancellationToken(p.Type));
        var tokenHint = hasToken ? "" : " or a CancellationToken";
        var candidates = _method.ContainingType.GetMembers(bodyName).OfType<IMethodSymbol>().Where(m => !SymbolEqualityComparer.Default.Equals(m, _method)).ToList();
        if (candidates.Count == 0)
        {
            // The code fix that creates the body reads its name from here.
            var properties = ImmutableDictionary<string, string?>.Empty.Add(BodyNameProperty, bodyName);
            Report(
                DiagnosticDescriptors.BodyMismatch, _syntax.Identifier.GetLocation(), properties,
                $"The body method '{bodyName}' does not exist{NearMiss(bodyName, hasToken)}", bodyName, returns, declared, tokenHint);
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

                Body = candidate;
                return new BodyCallSpec(SymbolText.Identifier(bodyName), SymbolText.TypeParameterList(_method), extra, candidate.IsStatic);
            }

            firstProblem ??= problem;
        }

        Report(DiagnosticDescriptors.BodyMismatch, location, $"The body method '{bodyName}' {firstProblem}", bodyName, returns, declared, tokenHint);
        return null;
    }

    /// <summary>
    /// A method of the type whose name is close to the expected body's (<c>ReceiveAsyncCore</c> for
    /// <c>ReceiveCoreAsync</c>, a typo, another case) and whose signature would fit: named in CLA006 with the two
    /// ways to use it.
    /// </summary>
    private string NearMiss(string bodyName, bool hasToken)
    {
        var near = _method.ContainingType.GetMembers().OfType<IMethodSymbol>()
            .Where(m => m.MethodKind == MethodKind.Ordinary && !m.IsPartialDefinition && m.PartialDefinitionPart is null
                && !SymbolEqualityComparer.Default.Equals(m, _method) && IsNearName(m.Name, bodyName))
            .OrderBy(m => MatchBody(m, hasToken, out _) is null ? 0 : 1)
            .FirstOrDefault();
        return near is null
            ? ""
            : $" (did you mean '{near.Name}'? rename it to '{bodyName}', or name it on the attribute: Body = nameof({near.Name}))";
    }

    private static bool IsNearName(string candidate, string expected)
    {
        if (string.Equals(candidate, expected, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // The same words in another order: ReceiveAsyncCore, CoreReceiveAsync.
        static string Sorted(string name) => string.Concat(Words(name).OrderBy(w => w, StringComparer.OrdinalIgnoreCase)).ToUpperInvariant();
        if (Sorted(candidate) == Sorted(expected))
        {
            return true;
        }

        return EditDistance(candidate.ToUpperInvariant(), expected.ToUpperInvariant()) <= Math.Max(1, expected.Length / 8);
    }

    private static string[] Words(string name)
    {
        var words = new System.Collections.Generic.List<string>();
        var start = 0;
        for (var i = 1; i <= name.Length; i++)
        {
            if (i == name.Length || char.IsUpper(name[i]) || name[i] == '_')
            {
                if (i > start)
                {
                    words.Add(name.Substring(start, i - start).Trim('_'));
                }

                start = i;
            }
        }

        return words.Where(w => w.Length > 0).ToArray();
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
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

        // The declaration's type parameters as its own signature uses them: not annotated where nullable is on. A type
        // parameter symbol alone is oblivious when unconstrained, and Task<T> would not match Task<T>.
        var asUsed = _method.ReturnNullableAnnotation == NullableAnnotation.None ? NullableAnnotation.None : NullableAnnotation.NotAnnotated;
        var constructed = body.TypeParameters.Length == 0
            ? body
            : body.Construct(_method.TypeParameters.CastArray<ITypeSymbol>(), _method.TypeParameters.Select(_ => asUsed).ToImmutableArray());
        if (ConstraintProblem(body) is { } constraintProblem)
        {
            return constraintProblem;
        }

        // Nullability counts: Task<string?> where Task<string> is declared would be a warning in the generated code.
        if (!s_withNullability.Equals(constructed.ReturnType, _method.ReturnType) && !IsOblivious(constructed.ReturnType))
        {
            return $"returns '{body.ReturnType.ToDisplayString(SymbolText.ShortFormat)}'";
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
            if (!Accepts(constructed.Parameters[i].Type, _method.Parameters[i].Type) || constructed.Parameters[i].RefKind != _method.Parameters[i].RefKind)
            {
                return $"takes '{body.Parameters[i].Type.ToDisplayString(SymbolText.ShortFormat)} {body.Parameters[i].Name}' where '{_method.Parameters[i].Type.ToDisplayString(SymbolText.ShortFormat)} {_method.Parameters[i].Name}' is declared";
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
                return $"takes an extra last parameter of type '{last.ToDisplayString(SymbolText.ShortFormat)}'";
            }
        }

        return null;
    }

    /// <summary>Whether a body parameter of type <paramref name="parameter"/> takes an argument of type <paramref name="argument"/> without a nullable warning.</summary>
    private static bool Accepts(ITypeSymbol parameter, ITypeSymbol argument)
    {
        if (!SymbolEqualityComparer.Default.Equals(parameter, argument))
        {
            return false;
        }

        if (s_withNullability.Equals(parameter, argument) || IsOblivious(parameter) || IsOblivious(argument))
        {
            return true;
        }

        // A body that accepts null at the top level takes a non-null argument; nested type arguments must agree.
        return parameter.NullableAnnotation == NullableAnnotation.Annotated
            && s_withNullability.Equals(parameter.WithNullableAnnotation(NullableAnnotation.NotAnnotated), argument.WithNullableAnnotation(NullableAnnotation.NotAnnotated));
    }

    private static bool IsOblivious(ITypeSymbol type) =>
        type.NullableAnnotation == NullableAnnotation.None
        && (type is not INamedTypeSymbol named || named.TypeArguments.All(IsOblivious));

    /// <summary>
    /// A constraint of the body's type parameters that the declaration's do not guarantee: calling the body from the
    /// generated code would not compile (CS0452, CS0453, CS0310, CS0311, CS0314).
    /// </summary>
    private string? ConstraintProblem(IMethodSymbol body)
    {
        for (var i = 0; i < body.TypeParameters.Length; i++)
        {
            var required = body.TypeParameters[i];
            var given = _method.TypeParameters[i];
            var givenIsValueType = given.HasValueTypeConstraint || given.HasUnmanagedTypeConstraint;
            var givenIsReferenceType = given.HasReferenceTypeConstraint || given.ConstraintTypes.Any(t => t.TypeKind == TypeKind.Class);
            var missing =
                required.HasReferenceTypeConstraint && !givenIsReferenceType ? "class"
                : required.HasUnmanagedTypeConstraint && !given.HasUnmanagedTypeConstraint ? "unmanaged"
                : required.HasValueTypeConstraint && !givenIsValueType ? "struct"
                : required.HasNotNullConstraint && !(given.HasNotNullConstraint || givenIsValueType || (given.HasReferenceTypeConstraint && given.ReferenceTypeConstraintNullableAnnotation != NullableAnnotation.Annotated)) ? "notnull"
                : required.HasConstructorConstraint && !(given.HasConstructorConstraint || givenIsValueType) ? "new()"
                : null;
            if (missing is null)
            {
                foreach (var constraintType in required.ConstraintTypes)
                {
                    var substituted = Substitute(constraintType, body);
                    if (!given.ConstraintTypes.Any(t => SymbolEqualityComparer.Default.Equals(t, substituted) || ImpliesConstraint(t, substituted)))
                    {
                        missing = constraintType.ToDisplayString(SymbolText.ShortFormat);
                        break;
                    }
                }
            }

            if (missing is not null)
            {
                return $"requires 'where {required.Name} : {missing}', which the declaration's '{given.Name}' does not promise; give both the same constraints";
            }
        }

        return null;
    }

    private ITypeSymbol Substitute(ITypeSymbol type, IMethodSymbol body)
    {
        if (type is ITypeParameterSymbol { TypeParameterKind: TypeParameterKind.Method } parameter && SymbolEqualityComparer.Default.Equals(parameter.DeclaringMethod, body))
        {
            return _method.TypeParameters[parameter.Ordinal];
        }

        if (type is INamedTypeSymbol { IsGenericType: true } named && named.TypeArguments.Any(a => a is ITypeParameterSymbol))
        {
            return named.OriginalDefinition.Construct(named.TypeArguments.Select(a => Substitute(a, body)).ToArray());
        }

        return type;
    }

    private static bool ImpliesConstraint(ITypeSymbol given, ITypeSymbol required) =>
        given.AllInterfaces.Contains(required, SymbolEqualityComparer.Default)
        || BaseTypes(given).Skip(1).Contains(required, SymbolEqualityComparer.Default);
}
