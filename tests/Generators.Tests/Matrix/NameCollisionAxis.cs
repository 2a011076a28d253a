using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>Where the name-collision axis puts a name the generated code uses.</summary>
internal enum NameRole
{
    /// <summary>
    /// A string parameter of the method, in the key as its last placeholder; the provider (member, primary-constructor
    /// parameter or parameter) takes the name too, as in issue 19 (a field <c>provider</c>, a parameter <c>provider</c>).
    /// </summary>
    Parameter,

    /// <summary>A member of the containing type that is not the provider: a field, a method, a nested type or a property (all static, as a static class needs), in rotation.</summary>
    Member,

    /// <summary>A type beside the containing type, in its namespace (or the global namespace): class, struct, interface, enum, delegate or record, in rotation.</summary>
    Type,

    /// <summary>A type parameter of the method, or of the containing type when that is generic.</summary>
    TypeParameter,

    /// <summary>The last part of the containing type's namespace (for the global namespace: a namespace of that name).</summary>
    Namespace,
}

/// <param name="Variant">Picks the kind of member or type the name is given to.</param>
internal sealed record NameCollision(string Name, NameRole Role, int Variant);

/// <summary>
/// The name-collision axis of the declaration matrix (issue 19): every name the generated code uses, given to each
/// thing of the user's a name can be given to, must change nothing. The names are read from the generated code itself
/// (the matrix's own and the checked-in snapshots'), so a name a later generator adds is covered without editing this
/// list; a few names the generated code might come to use are added by hand.
/// </summary>
internal static class NameCollisionAxis
{
    /// <summary>Names worth trying beyond those the generated code uses today: framework and runtime types, and the words a generator reaches for.</summary>
    public static readonly string[] Extras =
    [
        "Task", "ValueTask", "CancellationToken", "System", "Threading", "Exception", "OperationCanceledException", "InvalidOperationException",
        "ArgumentNullException", "Func", "Action", "Object", "String", "GC", "ConsulLock", "Aop", "ConsulLockProvider", "IConsulLockProvider",
        "ConsulLockContext", "ConsulLocked", "ConsulLockedAttribute", "ConsulLocking", "var", "_", "provider", "key", "settings", "body", "context",
        "cancellationToken", "token", "result", "value", "self", "lockKey", "lockContext", "handle",
    ];

    /// <summary>Names a global type may not have in any project: the SDK's own generated files (and ours) would no longer find these namespaces.</summary>
    private static readonly HashSet<string> s_rootNamespaces = ["System", "ConsulLock", "Microsoft", "Matrix"];

    /// <summary>The names the matrix gives each declaration's types, interface and namespace: unique to it, so no other declaration's name meets them.</summary>
    private static readonly Regex s_numbered = new("^(T|B|C|I|Outer)[0-9]+$", RegexOptions.CultureInvariant);

    /// <summary>The global types of <see cref="DeclarationMatrix.SharedSource"/>.</summary>
    private static readonly HashSet<string> s_sharedTypes = ["Probe", "Customer", "Order", "Color"];

    /// <summary>
    /// Every identifier of generated files: the framework's and runtime's namespaces, types and members, the locals,
    /// lambda parameters and members the generator declares, and the user's names it refers to. Not the names the
    /// matrix numbers per declaration (<c>T12</c>, <c>Outer12</c>, <c>C12</c>), nor the alias <c>global</c>.
    /// </summary>
    public static IEnumerable<string> IdentifiersIn(IEnumerable<SyntaxTree> generated) =>
        generated.SelectMany(tree => tree.GetRoot().DescendantTokens()).Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText).Where(IsWorthTrying);

    /// <summary>
    /// From a snapshot, made from someone else's declarations: only the names of what it reaches through
    /// <c>global::System</c> and <c>global::ConsulLock</c>, and the locals and lambda parameters it declares; the
    /// names of that user's own code are of no interest to the matrix.
    /// </summary>
    public static IEnumerable<string> RuntimeAndLocalNamesIn(SyntaxTree snapshot)
    {
        foreach (var node in snapshot.GetRoot().DescendantNodes())
        {
            switch (node)
            {
                case AliasQualifiedNameSyntax { Alias.Identifier.ValueText: "global", Name.Identifier.ValueText: "System" or "ConsulLock" } root:
                    SyntaxNode chain = root;
                    while ((chain.Parent is QualifiedNameSyntax qualified && qualified.Left == chain)
                        || (chain.Parent is MemberAccessExpressionSyntax access && access.Expression == chain))
                    {
                        chain = chain.Parent;
                    }

                    foreach (var token in chain.DescendantTokens(n => n is not TypeArgumentListSyntax).Where(t => t.IsKind(SyntaxKind.IdentifierToken)))
                    {
                        yield return token.ValueText;
                    }

                    break;
                case VariableDeclaratorSyntax { Parent.Parent: LocalDeclarationStatementSyntax } local:
                    yield return local.Identifier.ValueText;
                    break;
                case ParameterSyntax { Parent: SimpleLambdaExpressionSyntax or ParameterListSyntax { Parent: ParenthesizedLambdaExpressionSyntax } } parameter:
                    yield return parameter.Identifier.ValueText;
                    break;
            }
        }
    }

    private static bool IsWorthTrying(string name) => name != "global" && !s_numbered.IsMatch(name);

    /// <summary>
    /// One declaration per name and role, numbered from <paramref name="first"/>, in role order. The other axes rotate
    /// with each declaration; where C# itself forbids the pair (a second parameter of the same name, a type named in
    /// lower case, a global type named <c>System</c>), the next shape in rotation is tried.
    /// </summary>
    public static IEnumerable<Declaration> Declarations(IReadOnlyCollection<string> names, int first)
    {
        var n = first;
        var i = 0;
        foreach (var role in Enum.GetValues<NameRole>())
        {
            foreach (var name in names.Order(StringComparer.Ordinal))
            {
                for (var attempt = 0; attempt < 24; attempt++)
                {
                    var declaration = Shape(n, i + (attempt * 5), new NameCollision(name, role, i + attempt));
                    if (IsAllowedByCSharp(declaration))
                    {
                        yield return declaration;
                        n++;
                        break;
                    }
                }

                i++;
            }
        }
    }

    private static Declaration Shape(int n, int i, NameCollision collision) => new(
        n,
        DeclarationMatrix.Returns[(i / 2) % DeclarationMatrix.Returns.Length],
        DeclarationMatrix.Placeholders[(i / 3) % DeclarationMatrix.Placeholders.Length],
        DeclarationMatrix.Tokens[(i / 5) % DeclarationMatrix.Tokens.Length],
        DeclarationMatrix.Methods[(i + (i / 48)) % DeclarationMatrix.Methods.Length],
        DeclarationMatrix.Containers[i % DeclarationMatrix.Containers.Length],
        DeclarationMatrix.Providers[(i / DeclarationMatrix.Containers.Length) % DeclarationMatrix.Providers.Length],
        collision,
        DeclarationMatrix.HoldPairs[i % DeclarationMatrix.HoldPairs.Length],
        DeclarationMatrix.Interfaces[(i / 7) % DeclarationMatrix.Interfaces.Length]);

    /// <summary>
    /// Whether the user's code is valid C# with no warning without any generator: what C# rejects or warns about is the
    /// user's to fix, not a collision the generated code must survive.
    /// </summary>
    public static bool IsAllowedByCSharp(Declaration declaration)
    {
        var collision = declaration.Collision!;
        var name = collision.Name;
        var lowerCase = name.All(char.IsAsciiLetterLower); // a type so named is warning CS8981
        var global = declaration.Container == ContainerKind.GlobalNamespace;
        static bool Once(IEnumerable<string> names, string name) => names.Count(n => n == name) <= 1;

        // The generic interface's member has the method's parameters and type parameters; one named like the
        // interface's type parameter would hide it there (warning CS0693 for a type parameter).
        if (collision.Role is NameRole.Parameter or NameRole.TypeParameter && declaration.Interface == InterfaceShape.Generic && name == Declaration.InterfaceTypeParameter)
        {
            return false;
        }

        return collision.Role switch
        {
            NameRole.Parameter => Once(declaration.MethodScopeNames, name) && Once(declaration.TypeScopeNames, name),
            NameRole.Member => !declaration.TypeScopeNames.Contains(name) && !(lowerCase && IsTypeMember(collision.Variant)),
            NameRole.Type => !lowerCase && name != declaration.TypeName && !(global && (s_rootNamespaces.Contains(name) || s_sharedTypes.Contains(name))),
            // A generic class's type parameter may not share a name with a method's (warning CS0693).
            // A type parameter named like a constraint keyword turns the user's own 'where T : notnull' into a constraint on
            // that type parameter: valid C#, but the declaration then means something else than the run expects.
            NameRole.TypeParameter => Once(declaration.MethodScopeNames, name) && Once(declaration.TypeScopeNames, name)
                && !(declaration.Container == ContainerKind.GenericClass && declaration.MethodScopeNames.Contains(name))
                && name is not ("notnull" or "unmanaged"),
            NameRole.Namespace => !(global && s_sharedTypes.Contains(name)),
            _ => false,
        };
    }

    private static bool IsTypeMember(int variant) => variant % 4 == 2;

    /// <summary>A member of the containing type named <paramref name="name"/>, of the kind <paramref name="variant"/> picks.</summary>
    public static string MemberDeclaration(string name, int variant) => (variant % 4) switch
    {
        0 => $"public static readonly string {name} = \"\";",
        1 => $"public static void {name}() {{ }}",
        2 => $"public sealed class {name} {{ }}",
        _ => $"public static int {name} => 0;",
    };

    /// <summary>A type named <paramref name="name"/>, of the kind <paramref name="variant"/> picks.</summary>
    public static string TypeDeclaration(string name, int variant) => (variant % 6) switch
    {
        0 => $"public sealed class {name} {{ }}",
        1 => $"public struct {name} {{ }}",
        2 => $"public interface {name} {{ }}",
        3 => $"public enum {name} {{ None }}",
        4 => $"public delegate void {name}();",
        _ => $"public sealed record {name}(int Value);",
    };

    /// <summary>How many declarations <paramref name="declarations"/> has per role, for the test's report.</summary>
    public static string Counts(IEnumerable<Declaration> declarations) =>
        string.Join(", ", declarations.GroupBy(d => d.Collision!.Role).Select(g => $"{g.Key} {g.Count().ToString(CultureInfo.InvariantCulture)}"));
}
