using System.Collections.Generic;
using System.Linq;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Parsing;

// Provider lookup: where the generated code gets its IConsulLockProvider (CLA015).
internal sealed partial class LockedMethodParser
{
    private static readonly ProviderSpec s_defaultProvider = new("global::ConsulLock.Aop.ConsulLocking.Default", "ConsulLocking.Default");

    /// <param name="Expression">How code in the type reads it where no name of the method hides it.</param>
    /// <param name="IsPrimaryConstructorParameter">The one kind of candidate that cannot be qualified: see <see cref="SpecFor"/>.</param>
    private sealed record ProviderCandidate(string Name, string Expression, string Description, bool IsParameter, bool IsStatic = false, bool IsPrimaryConstructorParameter = false);

    /// <summary>
    /// The provider, in this order: the one <c>Provider = nameof(…)</c> names; a parameter of the method; a field or
    /// property of the type (static ones for a static method); a primary-constructor parameter (instance methods);
    /// else <c>ConsulLocking.Default</c>. Two candidates at the first level that has any are an error naming both,
    /// rather than a silent pick. Null when that error was reported.
    /// </summary>
    private ProviderSpec? FindProvider()
    {
        var chosen = ChooseProvider(out var problem);
        if (problem is not null)
        {
            Report(DiagnosticDescriptors.ProviderChoice, ArgumentLocation("Provider") ?? _syntax.Identifier.GetLocation(), problem.Value.What, problem.Value.Fix);
            return null;
        }

        return chosen is null ? s_defaultProvider : SpecFor(chosen);
    }

    /// <summary>
    /// What the generated method reads. Members are qualified where they are found (<c>this.</c>, or the type's name for
    /// static ones), so a parameter named like them does not capture them (issue 19). A primary-constructor parameter
    /// has no qualified form: where a parameter or type parameter of the method, or a member of the type, has its name,
    /// it is read through a member the generated code adds (<see cref="ProviderRelay"/>).
    /// </summary>
    private ProviderSpec SpecFor(ProviderCandidate candidate)
    {
        if (!candidate.IsPrimaryConstructorParameter)
        {
            return new ProviderSpec(candidate.Expression, candidate.Description);
        }

        var hiddenByMember = MemberHides(candidate.Name);
        if (!hiddenByMember && !NamesInMethod().Contains(candidate.Name))
        {
            return new ProviderSpec(candidate.Expression, candidate.Description);
        }

        var relay = FreeMemberName("LockProvider");
        return new ProviderSpec("this." + relay, candidate.Description, new ProviderRelay(relay, candidate.Expression, hiddenByMember));
    }

    /// <summary>
    /// The member or primary-constructor parameter the lock would use, for a method with errors: the code generated
    /// in its place reads it, so the compiler does not add "parameter is unread" (CS9113) or "field is never used"
    /// (CS0169, CS0414) to our error. Null for a method parameter or <c>ConsulLocking.Default</c>.
    /// </summary>
    private string? ProviderToRead() =>
        ChooseProvider(out var problem) is { IsParameter: false } candidate && problem is null ? candidate.Expression : null;

    /// <summary>As <see cref="ProviderToRead"/>, read from inside the method, where its own names may hide it.</summary>
    private ProviderSpec? ProviderToReadInMethod() =>
        ChooseProvider(out var problem) is { IsParameter: false } candidate && problem is null ? SpecFor(candidate) : null;

    /// <summary>Whether the provider <see cref="ProviderToRead"/> returns is a static member, readable from a static context.</summary>
    private bool ProviderToReadIsStatic() => ChooseProvider(out _) is { IsStatic: true };

    private ProviderCandidate? ChooseProvider(out (string What, string Fix)? problem)
    {
        problem = null;
        var levels = new[] { ParameterCandidates().ToList(), MemberCandidates().ToList(), PrimaryConstructorCandidates().ToList() };
        var named = NamedString(_attribute, "Provider");
        if (named is not null)
        {
            var match = levels.SelectMany(level => level).FirstOrDefault(c => c.Name == named);
            if (match is null)
            {
                var available = levels.SelectMany(level => level).Select(c => c.Name).Distinct().ToList();
                problem = (
                    $"Provider = \"{named}\" names no parameter, field, property or primary-constructor parameter of type IConsulLockProvider that '{_method.Name}' can use",
                    available.Count == 0
                        ? "name one of those, or remove Provider to use ConsulLocking.Default"
                        : $"name one of: {string.Join(", ", available.Select(a => $"nameof({a})"))}");
            }

            return match;
        }

        foreach (var level in levels)
        {
            if (level.Count > 1)
            {
                problem = (
                    $"'{_method.Name}' could take its lock provider from {level[0].Description} or {level[1].Description}",
                    $"choose one on the attribute, for example [ConsulLocked(..., Provider = nameof({level[0].Name}))]");
                return null;
            }

            if (level.Count == 1)
            {
                return level[0];
            }
        }

        return null;
    }

    private IEnumerable<ProviderCandidate> ParameterCandidates() =>
        _method.Parameters
            .Where(p => p.RefKind == RefKind.None && _types.IsProvider(p.Type))
            .Select(p => new ProviderCandidate(p.Name, SymbolText.Identifier(p.Name), $"the parameter '{p.Name}'", true));

    /// <summary>
    /// The provider members the method's type can read, as C#'s member lookup finds them: a member of a more derived
    /// type (an override, or any member of the same name) hides those of its bases, so the generated code's
    /// <c>this.name</c> or <c>Type.name</c> reads the candidate itself.
    /// </summary>
    private IEnumerable<ProviderCandidate> MemberCandidates()
    {
        var type = _method.ContainingType;
        var hidden = new HashSet<string>();
        foreach (var declaring in BaseTypes(type))
        {
            var declared = new List<string>();
            foreach (var member in declaring.GetMembers())
            {
                _cancellationToken.ThrowIfCancellationRequested();
                if (hidden.Contains(member.Name) || !_compilation.IsSymbolAccessibleWithin(member, type))
                {
                    continue;
                }

                declared.Add(member.Name);
                var memberType = member switch
                {
                    IFieldSymbol { IsImplicitlyDeclared: false } field => field.Type,
                    IPropertySymbol { GetMethod: not null, Parameters.Length: 0 } property => property.Type,
                    _ => null,
                };
                if (memberType is null || !_types.IsProvider(memberType) || (_method.IsStatic && !member.IsStatic))
                {
                    continue;
                }

                var access = (member.IsStatic ? type.ToDisplayString(SymbolText.TypeFormat) : "this") + "." + SymbolText.Identifier(member.Name);
                yield return new ProviderCandidate(member.Name, access, $"the {(member is IFieldSymbol ? "field" : "property")} '{member.Name}'", false, member.IsStatic);
            }

            hidden.UnionWith(declared);
        }
    }

    private IEnumerable<ProviderCandidate> PrimaryConstructorCandidates() =>
        _method.IsStatic
            ? Enumerable.Empty<ProviderCandidate>()
            : PrimaryConstructorParameters()
                .Where(p => _types.IsProvider(p.Type))
                .Select(p => new ProviderCandidate(p.Name, SymbolText.Identifier(p.Name), $"the primary constructor parameter '{p.Name}'", false, IsPrimaryConstructorParameter: true));

    /// <summary>The parameters of the type's primary constructor; none for a record, whose parameters are its properties.</summary>
    private List<IParameterSymbol> PrimaryConstructorParameters()
    {
        if (_primaryConstructorParameters is not null)
        {
            return _primaryConstructorParameters;
        }

        _primaryConstructorParameters = new List<IParameterSymbol>();
        foreach (var reference in _method.ContainingType.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(_cancellationToken) is TypeDeclarationSyntax { ParameterList: { } list } declaration and not RecordDeclarationSyntax)
            {
                var model = _compilation.GetSemanticModel(declaration.SyntaxTree);
                _primaryConstructorParameters.AddRange(list.Parameters.Select(p => model.GetDeclaredSymbol(p, _cancellationToken)).OfType<IParameterSymbol>());
            }
        }

        return _primaryConstructorParameters;
    }
}
