using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Parsing;

/// <summary>The types the parser recognises, looked up once per compilation.</summary>
internal sealed class KnownTypes
{
    public const string AttributeName = "ConsulLock.Aop.ConsulLockedAttribute";

    public const string LeaderAttributeName = "ConsulLock.Aop.ConsulLeaderAttribute";
    public const string SemaphoreAttributeName = "ConsulLock.Aop.ConsulSemaphoreAttribute";

    private static readonly ConditionalWeakTable<Compilation, KnownTypes> s_perCompilation = new();

    private KnownTypes(Compilation compilation)
    {
        Attribute = compilation.GetTypeByMetadataName(AttributeName);
        LeaderAttribute = compilation.GetTypeByMetadataName(LeaderAttributeName);
        SemaphoreAttribute = compilation.GetTypeByMetadataName(SemaphoreAttributeName);
        Provider = compilation.GetTypeByMetadataName("ConsulLock.Aop.IConsulLockProvider");
        Context = compilation.GetTypeByMetadataName("ConsulLock.Aop.ConsulLockContext");
        CancellationToken = compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
        Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
        TaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
        ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
        ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
        Formattable = compilation.GetTypeByMetadataName("System.IFormattable");
    }

    /// <summary>The types of <paramref name="compilation"/>, looked up on first use and shared by every method in it.</summary>
    public static KnownTypes For(Compilation compilation) => s_perCompilation.GetValue(compilation, static c => new KnownTypes(c));

    public INamedTypeSymbol? Attribute { get; }

    public INamedTypeSymbol? LeaderAttribute { get; }
    /// <summary><c>[ConsulSemaphore]</c>: the same method shape as <c>[ConsulLocked]</c>, run under a permit instead of a lock.</summary>
    public INamedTypeSymbol? SemaphoreAttribute { get; }

    public INamedTypeSymbol? Provider { get; }

    public INamedTypeSymbol? Context { get; }

    public INamedTypeSymbol? CancellationToken { get; }

    public INamedTypeSymbol? Task { get; }

    public INamedTypeSymbol? TaskOfT { get; }

    public INamedTypeSymbol? ValueTask { get; }

    public INamedTypeSymbol? ValueTaskOfT { get; }

    public INamedTypeSymbol? Formattable { get; }

    /// <summary>
    /// Whether <paramref name="attribute"/> is one the generator implements a method for: <c>[ConsulLocked]</c>,
    /// <c>[ConsulLeader]</c> or <c>[ConsulSemaphore]</c>.
    /// </summary>
    public bool IsMethodAttribute(INamedTypeSymbol? attribute) =>
        attribute is not null
        && (SymbolEqualityComparer.Default.Equals(attribute, Attribute) || SymbolEqualityComparer.Default.Equals(attribute, LeaderAttribute)
            || SymbolEqualityComparer.Default.Equals(attribute, SemaphoreAttribute));

    /// <summary>
    /// The attribute whose parse implements the method when it carries several (each combination is an error the
    /// winner reports): <c>[ConsulLeader]</c> first, then <c>[ConsulSemaphore]</c>, then <c>[ConsulLocked]</c>.
    /// </summary>
    public AttributeData? MethodAttributeOf(IMethodSymbol method)
    {
        var attributes = method.GetAttributes();
        return attributes.FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, LeaderAttribute))
            ?? attributes.FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, SemaphoreAttribute))
            ?? attributes.FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, Attribute));
    }

    public bool IsCancellationToken(ITypeSymbol type) => SymbolEqualityComparer.Default.Equals(type, CancellationToken);

    public bool IsContext(ITypeSymbol type) => SymbolEqualityComparer.Default.Equals(type, Context);

    public bool IsProvider(ITypeSymbol type) =>
        Provider is not null
        && (SymbolEqualityComparer.Default.Equals(type, Provider)
            || type.AllInterfaces.Contains(Provider, SymbolEqualityComparer.Default));
}
