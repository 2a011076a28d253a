using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Parsing;

// Names: what the generated code calls the locals and members it adds, chosen so that no name of the user's meets them
// (issue 19: the generated code means what the declaration says, whatever the user's names).
internal sealed partial class LockedMethodParser
{
    private const string GeneratedFileSuffix = ".ConsulLocked.g.cs";

    /// <summary>
    /// The names the generated method's locals must not take: its parameters and type parameters (a local may not
    /// share their names) and the primary-constructor parameters of its type (a local would hide the one read as the
    /// provider).
    /// </summary>
    private HashSet<string> NamesTakenForLocals()
    {
        var taken = NamesInMethod();
        taken.UnionWith(PrimaryConstructorParameters().Select(p => p.Name));
        return taken;
    }

    /// <summary>The names the method itself declares, which hide the type's names inside it.</summary>
    private HashSet<string> NamesInMethod() =>
        new(_method.Parameters.Select(p => p.Name).Concat(_method.TypeParameters.Select(t => t.Name)), StringComparer.Ordinal);

    /// <summary>
    /// A name for a member the generated code adds for this method: <c>__RunAsyncLockSettings</c>, numbered for the
    /// second and later overloads (<c>__RunAsyncLockSettings2</c>), then '_' appended until nothing of the type has it
    /// (a member of its own or an accessible one of a base: a clash, or CS0108; the type's own name or type
    /// parameters; a primary-constructor parameter, which the member would hide) and nothing the method declares
    /// would hide it, so the method can name it unqualified. Names of different methods or roles cannot meet: each
    /// ends in its role, then digits only from the overload number, then '_' only from here.
    /// </summary>
    private string FreeMemberName(string role)
    {
        var type = _method.ContainingType;
        var overload = type.GetMembers(_method.Name).OfType<IMethodSymbol>().ToList().FindIndex(m => SymbolEqualityComparer.Default.Equals(m, _method));
        var name = "__" + _method.Name + role + (overload > 0 ? (overload + 1).ToString(CultureInfo.InvariantCulture) : "");
        var taken = NamesTakenForLocals();
        while (taken.Contains(name) || MemberHides(name) || name == type.Name || type.TypeParameters.Any(t => t.Name == name))
        {
            name += "_";
        }

        return name;
    }

    /// <summary>
    /// Whether a member named <paramref name="name"/> is seen in the method's type (its own, or an accessible one of a
    /// base): such a member hides a primary-constructor parameter of that name in member bodies. Members this generator
    /// wrote (the analyzer's compilation holds them) do not count.
    /// </summary>
    private bool MemberHides(string name)
    {
        var type = _method.ContainingType;
        return BaseTypes(type).Any(declaring => declaring.GetMembers(name).Any(member =>
            SymbolEqualityComparer.Default.Equals(declaring, type) ? !IsWrittenByThisGenerator(member) : _compilation.IsSymbolAccessibleWithin(member, type)));
    }

    private static bool IsWrittenByThisGenerator(ISymbol symbol) =>
        !symbol.DeclaringSyntaxReferences.IsEmpty && symbol.DeclaringSyntaxReferences.All(r => IsGeneratedFile(r.SyntaxTree));

    private static bool IsGeneratedFile(SyntaxTree tree) => tree.FilePath.EndsWith(GeneratedFileSuffix, StringComparison.Ordinal);
}
