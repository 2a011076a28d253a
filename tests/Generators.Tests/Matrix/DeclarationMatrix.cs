using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>
/// Valid <c>[ConsulLocked]</c> declarations built from the axes a user varies: return type, placeholder kind, where the
/// token and the context go, the kind of method, the kind of containing type and namespace, where the provider
/// comes from, the minimum and maximum hold, whether the method implements an interface member, and what a timeout
/// does (Skip with a result that can say "skipped": bool, a nullable value or reference type). Each axis value
/// meets every value of the others in rotation, so a few thousand declarations cover every pair of values. The names
/// the user gives things are one more axis, built by <see cref="NameCollisionAxis"/> on the same declarations.
/// </summary>
/// <remarks>
/// The axes added later (holds, interfaces, timeouts) rotate through the declarations the first ones make rather than multiply
/// them: the matrix costs what it did, and a pair of values still meets (the test checks every pair).
/// </remarks>
internal static class DeclarationMatrix
{
    public static readonly string[] Returns = ["Task", "Task<int>", "ValueTask", "ValueTask<string>"];

    public static readonly PlaceholderKind[] Placeholders = Enum.GetValues<PlaceholderKind>();

    public static readonly TokenShape[] Tokens = Enum.GetValues<TokenShape>();

    public static readonly MethodKind[] Methods = Enum.GetValues<MethodKind>();

    public static readonly ContainerKind[] Containers = Enum.GetValues<ContainerKind>();

    public static readonly ProviderKind[] Providers = Enum.GetValues<ProviderKind>();

    /// <summary>The <c>MinHold</c> values tried (null: not set): both ends of its range 0s..24h, and two between.</summary>
    public static readonly Hold?[] MinHolds = [null, new("0s", TimeSpan.Zero), new("250ms", TimeSpan.FromMilliseconds(250)), new("10m", TimeSpan.FromMinutes(10)), new("24h", TimeSpan.FromHours(24))];

    /// <summary>The <c>MaxHold</c> values tried (null: not set): both ends of its range 1s..24h, and one between.</summary>
    public static readonly Hold?[] MaxHolds = [null, new("1s", TimeSpan.FromSeconds(1)), new("1h", TimeSpan.FromHours(1)), new("24h", TimeSpan.FromHours(24))];

    /// <summary>
    /// One axis of the two holds, as the pairs a valid declaration can have: <c>MinHold</c> &lt;= <c>MaxHold</c> when both
    /// are set (the other pairs are CLA016, in the misuse matrix). Equal ends ("24h", "24h") are valid and are here.
    /// </summary>
    public static readonly Holds[] HoldPairs =
        [.. from min in MinHolds from max in MaxHolds where min is null || max is null || min.Value <= max.Value select new Holds(min, max)];

    public static readonly InterfaceShape[] Interfaces = Enum.GetValues<InterfaceShape>();

    public static readonly TimeoutKind[] Timeouts = Enum.GetValues<TimeoutKind>();

    /// <summary>The attribute: <c>[ConsulLocked]</c> or <c>[ConsulSemaphore]</c> (issue 22), with the same key, body, provider, wait and skip rules.</summary>
    public static readonly AttributeKind[] Kinds = Enum.GetValues<AttributeKind>();

    /// <summary>What every batch shares: the types placeholders walk through, and the probe bodies report to.</summary>
    public const string SharedSource = """
        public sealed record Customer(int Id);
        public sealed record Order(Customer Customer);
        public enum Color { Red, Green }

        public static class Probe
        {
            public static ConsulLock.Aop.Testing.InMemoryConsulLockProvider? Provider { get; set; }

            public static string? HeldDuringBody { get; set; }

            /// <summary>What the body does after it recorded the keys, given the body's token (the test advances a fake clock here).</summary>
            public static global::System.Action<global::System.Threading.CancellationToken>? DuringBody { get; set; }

            /// <summary>Records the keys held while the body runs; a body whose token fired meanwhile ends by cancellation, as a body should.</summary>
            public static void Record(global::System.Threading.CancellationToken token)
            {
                HeldDuringBody = string.Join("|", global::System.Linq.Enumerable.Concat(Provider?.HeldKeys ?? [], Provider?.HeldPermits ?? []));
                DuringBody?.Invoke(token);
                token.ThrowIfCancellationRequested();
            }
        }
        """;

    /// <summary>
    /// <paramref name="rounds"/> times every combination of return, placeholder, token and method kind, each round with
    /// containers, providers, holds, interfaces and timeouts rotated. The rotations' periods (9, 6 per 9, 17, 3 per 7,
    /// 4 per 5) share no
    /// factor with the combinations' strides in a way that leaves a pair out: the test checks every pair meets.
    /// </summary>
    public static IEnumerable<Declaration> All(int rounds)
    {
        var n = 0;
        for (var round = 0; round < rounds; round++)
        {
            foreach (var returns in Returns)
            {
                foreach (var placeholder in Placeholders)
                {
                    foreach (var token in Tokens)
                    {
                        foreach (var method in Methods)
                        {
                            var container = Containers[(n + round) % Containers.Length];
                            var provider = Providers[((n / Containers.Length) + (round * 3)) % Providers.Length];
                            var holds = HoldPairs[n % HoldPairs.Length];
                            var implements = Interfaces[(n / 7) % Interfaces.Length];
                            var timeout = Timeouts[((n / 5) + round) % Timeouts.Length];
                            var kind = Kinds[((n / 11) + round) % Kinds.Length];
                            yield return new Declaration(n++, returns, placeholder, token, method, container, provider, Holds: holds, RequestedInterface: implements, Timeout: timeout, Kind: kind);
                        }
                    }
                }
            }

            // [ConsulLeader]: Task and a CancellationToken (the token shapes that declare one), no holds or timeouts;
            // every placeholder, method, container, provider and interface as for [ConsulLocked].
            foreach (var placeholder in Placeholders)
            {
                foreach (var token in LeaderTokens)
                {
                    foreach (var method in Methods)
                    {
                        var container = Containers[(n + round) % Containers.Length];
                        var provider = Providers[((n / Containers.Length) + (round * 3)) % Providers.Length];
                        var implements = Interfaces[(n / 7) % Interfaces.Length];
                        yield return new Declaration(n++, "Task", placeholder, token, method, container, provider, Holds: Holds.None, RequestedInterface: implements, Leader: true);
                    }
                }
            }
        }
    }

    /// <summary>The token shapes a [ConsulLeader] method can have: it declares a CancellationToken (CLA017).</summary>
    public static readonly TokenShape[] LeaderTokens = [TokenShape.TokenLast, TokenShape.ContextBeforeToken];
}

internal enum AttributeKind
{
    Lock,

    /// <summary><c>[ConsulSemaphore(key, Limit = 2)]</c>: no holds (a lock's notion), the key is the semaphore's prefix.</summary>
    Semaphore,
}

internal enum PlaceholderKind
{
    Plain,
    MemberPathAndPlain,
    NullableValue,
    Enum,
    Guid,
    DateTime,
    GenericTypeParameter,
    Format,
    AngleString,
}

internal enum TokenShape
{
    /// <summary>Declaration and body take a last CancellationToken.</summary>
    TokenLast,

    /// <summary>No token declared; the body takes a last ConsulLockContext.</summary>
    ContextLast,

    /// <summary>Token declared; the body takes the context just before it.</summary>
    ContextBeforeToken,

    /// <summary>No token declared; the body takes a last CancellationToken (the lock-lost token).</summary>
    BodyTokenOnly,
}

internal enum MethodKind
{
    Instance,
    Static,
    Generic,
    Override,
    Virtual,
    New,
}

internal enum ContainerKind
{
    Class,
    Struct,
    Record,
    RecordStruct,
    Nested,
    GenericClass,
    FileScopedNamespace,
    GlobalNamespace,

    /// <summary>A static class: its methods are static.</summary>
    StaticClass,
}

/// <summary>Whether the locked method implements an interface member, and of what kind of interface.</summary>
/// <remarks>
/// Always implicitly: a partial method cannot be an explicit interface implementation. [ConsulLocked] on the interface
/// member itself is CLA013, so the attribute stays on the class's partial method. A static locked method implements a
/// <c>static abstract</c> member; a static class implements no interface, so there the axis is <see cref="None"/>.
/// </remarks>
internal enum InterfaceShape
{
    None,

    /// <summary>An interface whose member has the declaration's own signature.</summary>
    Implicit,

    /// <summary>
    /// A generic interface, <c>I&lt;TValue&gt;</c>, implemented for a concrete type: its member's result type is
    /// <c>TValue</c> (a <c>Task&lt;TValue&gt;</c> implemented by <c>Task&lt;int&gt;</c>), else its first placeholder's type.
    /// </summary>
    Generic,
}

/// <summary>
/// What the attribute says a timeout does, and so the result of a method that returns one (the shape, Task or ValueTask,
/// comes from <see cref="DeclarationMatrix.Returns"/>). A method without a result is the same under each Skip.
/// </summary>
internal enum TimeoutKind
{
    /// <summary>OnTimeout = Throw (the default): the result of <see cref="DeclarationMatrix.Returns"/>, int or string.</summary>
    Throw,

    /// <summary>OnTimeout = Skip, a bool result: the body returns true when it ran, a skip is false.</summary>
    SkipBool,

    /// <summary>OnTimeout = Skip, an int? result: a skip is null.</summary>
    SkipNullableValue,

    /// <summary>OnTimeout = Skip, a string? result (nullable is on): a skip is null.</summary>
    SkipNullableReference,
}

/// <summary>A hold duration as the attribute writes it and as it reaches <c>ConsulLockRequest</c>.</summary>
internal sealed record Hold(string Text, TimeSpan Value);

/// <summary>A declaration's <c>MinHold</c> and <c>MaxHold</c> (each null when not set).</summary>
internal sealed record Holds(Hold? MinHold, Hold? MaxHold)
{
    public static readonly Holds None = new(null, null);

    /// <summary>The attribute's named arguments for the holds, each after a comma.</summary>
    public string Arguments =>
        (MinHold is { } min ? $", MinHold = \"{min.Text}\"" : "") + (MaxHold is { } max ? $", MaxHold = \"{max.Text}\"" : "");

    public override string ToString() => $"MinHold {MinHold?.Text ?? "-"}, MaxHold {MaxHold?.Text ?? "-"}";
}

internal enum ProviderKind
{
    Field,
    Property,
    PrimaryConstructor,
    StaticMember,
    Default,
    Parameter,
}

/// <summary>One declaration of the matrix: its source, and how to call it and what key it must lock.</summary>
/// <param name="Collision">
/// For the name-collision axis (<see cref="NameCollisionAxis"/>): a name the generated code uses, given to something of
/// the user's. Such a declaration lives in a namespace of its own, <c>Matrix.C&lt;N&gt;</c>, so that what it declares
/// meets no other declaration of its batch.
/// </param>
/// <param name="Holds">The attribute's <c>MinHold</c> and <c>MaxHold</c>; null for neither.</param>
/// <param name="RequestedInterface">Whether the method implements an interface member (see <see cref="Interface"/>).</param>
/// <param name="Timeout">OnTimeout, and the result type that goes with it.</param>
/// <remarks>
/// The source names every type with <c>global::</c>, as code must that has a type named <c>Task</c> or a namespace
/// named <c>System</c> in scope: what a declaration of the collision axis means does not depend on the names it adds.
/// </remarks>
internal sealed record Declaration(
    int N, string Returns, PlaceholderKind Placeholder, TokenShape Token, MethodKind RequestedMethod, ContainerKind Container, ProviderKind RequestedProvider,
    NameCollision? Collision = null, Holds? Holds = null, InterfaceShape RequestedInterface = InterfaceShape.None, TimeoutKind Timeout = TimeoutKind.Throw,
    bool Leader = false,
    AttributeKind Kind = AttributeKind.Lock)
{
    /// <summary>The semaphore's limit in a <see cref="AttributeKind.Semaphore"/> declaration.</summary>
    public const int SemaphoreLimit = 2;

    /// <summary>The holds the declaration has: a semaphore has none (requested ones still count for the pairs of axes).</summary>
    public Holds EffectiveHolds => Kind == AttributeKind.Semaphore ? Holds.None : Holds ?? Holds.None;

    /// <summary>The type parameter of the generic interface (<see cref="InterfaceShape.Generic"/>), which a parameter or method type parameter may not repeat.</summary>
    public const string InterfaceTypeParameter = "TValue";

    private const string Tasks = "global::System.Threading.Tasks.";
    private const string CancellationToken = "global::System.Threading.CancellationToken";
    private const string ProviderType = "global::ConsulLock.Aop.IConsulLockProvider";

    private bool IsStruct => Container is ContainerKind.Struct or ContainerKind.RecordStruct;

    private bool IsRecord => Container is ContainerKind.Record or ContainerKind.RecordStruct;

    /// <summary>Structs cannot inherit: their override, virtual and new become plain instance methods. A static class has static methods only.</summary>
    public MethodKind Method =>
        Container == ContainerKind.StaticClass ? MethodKind.Static
        : IsStruct && RequestedMethod is MethodKind.Override or MethodKind.Virtual or MethodKind.New ? MethodKind.Instance
        : RequestedMethod;

    /// <summary>A static method cannot use an instance member: it gets a static member or a parameter instead.</summary>
    public ProviderKind Provider => Method != MethodKind.Static
        ? RequestedProvider
        : RequestedProvider switch
        {
            ProviderKind.Field or ProviderKind.Property => ProviderKind.StaticMember,
            ProviderKind.PrimaryConstructor => ProviderKind.Parameter,
            _ => RequestedProvider,
        };

    /// <summary>A static class implements no interface; a static method implements a static abstract member.</summary>
    public InterfaceShape Interface => Container == ContainerKind.StaticClass ? InterfaceShape.None : RequestedInterface;

    public string TypeName => "T" + N.ToString(CultureInfo.InvariantCulture);

    /// <summary>The interface's name, without its type arguments.</summary>
    public string InterfaceName => "I" + N.ToString(CultureInfo.InvariantCulture);

    /// <summary>The result type of a <c>Task&lt;T&gt;</c> or <c>ValueTask&lt;T&gt;</c>, as <see cref="Timeout"/> wants it, else null.</summary>
    private string? ResultType => !Returns.Contains('<', StringComparison.Ordinal) ? null : Timeout switch
    {
        TimeoutKind.SkipBool => "bool",
        TimeoutKind.SkipNullableValue => "int?",
        TimeoutKind.SkipNullableReference => "string?",
        _ => Returns[(Returns.IndexOf('<', StringComparison.Ordinal) + 1)..^1],
    };

    /// <summary>The shape of <see cref="Returns"/> with its <see cref="ResultType"/>: Task, Task&lt;bool&gt;, ValueTask&lt;string?&gt;...</summary>
    public string DeclaredReturns => ResultType is null ? Returns : $"{Returns[..Returns.IndexOf('<', StringComparison.Ordinal)]}<{ResultType}>";

    /// <summary>The attribute's OnTimeout argument, after a comma, when it is not the default.</summary>
    private string TimeoutArgument => Timeout == TimeoutKind.Throw ? "" : ", OnTimeout = global::ConsulLock.Aop.LockTimeoutBehavior.Skip";

    /// <summary>
    /// What the generic interface's <see cref="InterfaceTypeParameter"/> stands for: the result type, else the first
    /// placeholder's type; <c>object</c> when there is neither (the placeholder is the method's own type parameter), and
    /// the interface's member then does not use it.
    /// </summary>
    private string InterfaceTypeArgument => ResultType ?? (PlaceholderType == "TItem" ? "object" : PlaceholderType);

    private string PlaceholderType => PlaceholderPart.Declared[..PlaceholderPart.Declared.IndexOf(' ', StringComparison.Ordinal)];

    /// <summary>The interface as the containing type's base list names it.</summary>
    private string ImplementedInterface => Interface == InterfaceShape.Generic ? $"{InterfaceName}<{InterfaceTypeArgument}>" : InterfaceName;

    /// <summary>The colliding name when <see cref="Collision"/> puts it in <paramref name="role"/>, else null.</summary>
    private string? Colliding(NameRole role) => Collision is { } collision && collision.Role == role ? collision.Name : null;

    /// <summary>The declaration's namespace, or null for the global namespace.</summary>
    public string? Namespace => Container == ContainerKind.GlobalNamespace
        ? Colliding(NameRole.Namespace)
        : Collision is null ? "Matrix" : $"Matrix.C{N.ToString(CultureInfo.InvariantCulture)}" + (Colliding(NameRole.Namespace) is { } last ? "." + last : "");

    /// <summary>The name reflection finds the type by (open generic for the generic container).</summary>
    public string MetadataName
    {
        get
        {
            var prefix = Namespace is null ? "" : Namespace + ".";
            return Container switch
            {
                ContainerKind.Nested => $"{prefix}Outer{N}+{TypeName}",
                ContainerKind.GenericClass => $"{prefix}{TypeName}`1",
                _ => prefix + TypeName,
            };
        }
    }

    private bool HasItem => Placeholder == PlaceholderKind.GenericTypeParameter;

    private bool HasTag => Method == MethodKind.Generic;

    /// <summary>A method type parameter named by the collision; in a generic class, the class's type parameter takes the name instead.</summary>
    private string? CollidingMethodTypeParameter => Container == ContainerKind.GenericClass ? null : Colliding(NameRole.TypeParameter);

    private string ClassTypeParameter => (Container == ContainerKind.GenericClass ? Colliding(NameRole.TypeParameter) : null) ?? "TKey";

    private IEnumerable<string> MethodTypeParameters =>
        new[] { HasItem ? "TItem" : null, HasTag ? "TTag" : null, CollidingMethodTypeParameter }.OfType<string>();

    public Type[] MethodTypeArguments => [.. MethodTypeParameters.Select(name => name == "TItem" ? typeof(int) : typeof(string))];

    private string TypeParameters => MethodTypeParameters.Any() ? "<" + string.Join(", ", MethodTypeParameters) + ">" : "";

    private string Constraints => (HasItem ? " where TItem : notnull" : "") + (HasTag ? " where TTag : class" : "");

    private (string Declared, string Key) PlaceholderPart => Placeholder switch
    {
        PlaceholderKind.Plain => ("int id", "{id}"),
        PlaceholderKind.MemberPathAndPlain => ("global::Order order, string kind", "{order.Customer.Id}/{kind}"),
        PlaceholderKind.NullableValue => ("int? batch", "{batch}"),
        PlaceholderKind.Enum => ("global::Color color", "{color}"),
        PlaceholderKind.Guid => ("global::System.Guid guid", "{guid}"),
        PlaceholderKind.DateTime => ("global::System.DateTime at", "{at}"),
        PlaceholderKind.GenericTypeParameter => ("TItem item", "{item}"),
        PlaceholderKind.Format => ("global::System.DateTime day", "{day:yyyy-MM-dd}"),
        PlaceholderKind.AngleString => ("string name", "<name>"),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>The arguments the sample run passes, and the key segments they must produce.</summary>
    public (object?[] Values, string Key) Arguments
    {
        get
        {
            var at = new DateTime(2025, 1, 15, 10, 30, 0, DateTimeKind.Utc);
            var guid = System.Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
            return Placeholder switch
            {
                PlaceholderKind.Plain => ([42], "42"),
                PlaceholderKind.MemberPathAndPlain => ([null, "a/b"], "7/a%2Fb"), // the order is made by the runner, from the loaded assembly
                PlaceholderKind.NullableValue => ([(int?)5], "5"),
                PlaceholderKind.Enum => ([null], "Green"), // the enum value too
                PlaceholderKind.Guid => ([guid], "0f8fad5b-d9cb-469f-a165-70867728950e"),
                PlaceholderKind.DateTime => ([at], LockKey.FormatSegment(at, "at")),
                PlaceholderKind.GenericTypeParameter => ([42], "42"),
                PlaceholderKind.Format => ([at], "2025-01-15"),
                PlaceholderKind.AngleString => (["x.y z"], LockKey.FormatSegment("x.y z", "name")),
                _ => throw new InvalidOperationException(),
            };
        }
    }

    public string KeyPrefix => $"m/{N}/";

    /// <summary>The value the run passes to <see cref="NamedParameter"/>, and so the key's last segment.</summary>
    public const string NamedParameterValue = "named";

    /// <summary>The key a run must hold while the body runs.</summary>
    public string ExpectedKey => KeyPrefix + Arguments.Key + (NamedParameter is null ? "" : "/" + NamedParameterValue);

    /// <summary>
    /// The provider's name: the member, primary-constructor parameter or parameter the lock reads, null for
    /// <c>ConsulLocking.Default</c>. The parameter collision gives it the colliding name, beside a parameter of that
    /// name (issue 19's shape: a member <c>provider</c> and a parameter <c>provider</c>); the member collision gives it
    /// to a class's primary-constructor parameter, which the member of that name then hides in member bodies.
    /// </summary>
    public string? ProviderName => Provider == ProviderKind.Default ? null : Colliding(NameRole.Parameter) ?? Provider switch
    {
        ProviderKind.PrimaryConstructor when !IsRecord && Colliding(NameRole.Member) is { } member => member,
        ProviderKind.Field => "_locks",
        ProviderKind.Property => "Locks",
        ProviderKind.StaticMember => "SharedLocks",
        ProviderKind.PrimaryConstructor => IsRecord ? "Locks" : "locks",
        _ => "locks",
    };

    /// <summary>A string parameter, in the key as its last placeholder, named by the parameter collision (unless the provider is the parameter of that name).</summary>
    public string? NamedParameter => Provider == ProviderKind.Parameter ? null : Colliding(NameRole.Parameter);

    /// <summary>The parameters the declaration and its body share: the provider, if passed in, the named parameter, and the placeholders' values.</summary>
    private IEnumerable<string> SharedParameters =>
        new[] { Provider == ProviderKind.Parameter ? $"{ProviderType} {ProviderName}" : null, NamedParameter is { } named ? "string " + named : null, PlaceholderPart.Declared }.OfType<string>();

    private string DeclaredParameters => string.Join(", ", SharedParameters.Concat(HasTokenParameter ? [CancellationToken + " ct"] : []));

    /// <summary>The interface's member: the declaration's signature, with the generic interface's type parameter in place of the type it stands for.</summary>
    private string InterfaceMember()
    {
        var returns = ReturnType;
        var parameters = DeclaredParameters;
        if (Interface == InterfaceShape.Generic)
        {
            if (ResultType is { } result)
            {
                returns = returns.Replace($"<{result}>", $"<{InterfaceTypeParameter}>", StringComparison.Ordinal);
            }
            else if (InterfaceTypeArgument != "object")
            {
                // The placeholders' parameters come last of the shared ones.
                var shared = SharedParameters.ToList();
                shared[^1] = InterfaceTypeParameter + shared[^1][PlaceholderType.Length..];
                parameters = string.Join(", ", shared.Concat(HasTokenParameter ? [CancellationToken + " ct"] : []));
            }
        }

        var typeParameters = Interface == InterfaceShape.Generic ? $"<{InterfaceTypeParameter}>" : "";
        var modifiers = Method == MethodKind.Static ? "static abstract " : "";
        return $"public interface {InterfaceName}{typeParameters} {{ {modifiers}{returns} RunAsync{TypeParameters}({parameters}){Constraints}; }}";
    }

    private IEnumerable<string> BodyOnlyParameters => Token switch
    {
        TokenShape.TokenLast => [CancellationToken + " ct"],
        TokenShape.ContextLast => ["global::ConsulLock.Aop.ConsulLockContext context"],
        TokenShape.ContextBeforeToken => ["global::ConsulLock.Aop.ConsulLockContext context", CancellationToken + " ct"],
        _ => [CancellationToken + " lost"],
    };

    private string BodyParameters => string.Join(", ", SharedParameters.Concat(BodyOnlyParameters));

    /// <summary>The token the body gets: the caller's token linked to the lock's, or the lock-lost token.</summary>
    private string BodyToken => Token switch
    {
        TokenShape.ContextLast => "context.CancellationToken",
        TokenShape.BodyTokenOnly => "lost",
        _ => "ct",
    };

    /// <summary>The names of the method's and its body's parameters and type parameters, which a parameter or method type parameter may not repeat.</summary>
    public IEnumerable<string> MethodScopeNames =>
        SharedParameters.Concat(BodyOnlyParameters).SelectMany(p => p.Split(", ")).Select(p => p[(p.LastIndexOf(' ') + 1)..]).Concat(MethodTypeParameters);

    /// <summary>The names of the containing type's own members and type parameters, which a member may not repeat.</summary>
    public IEnumerable<string> TypeScopeNames =>
        new[] { TypeName, "RunAsync", "RunCoreAsync", Provider is ProviderKind.Field or ProviderKind.Property or ProviderKind.StaticMember || (IsRecord && Provider == ProviderKind.PrimaryConstructor) ? ProviderName : null, Container == ContainerKind.GenericClass ? ClassTypeParameter : null }.OfType<string>();

    public bool HasTokenParameter => Token is TokenShape.TokenLast or TokenShape.ContextBeforeToken;

    private string ReturnType => Tasks + DeclaredReturns;

    private string Result
    {
        get
        {
            var value = ResultType switch
            {
                null => null,
                "bool" => "true",
                "int" or "int?" => "1",
                _ => "\"done\"",
            };
            return value is null
                ? Returns == "Task" ? Tasks + "Task.CompletedTask" : "default"
                : Returns.StartsWith("Task", StringComparison.Ordinal) ? $"{Tasks}Task.FromResult<{ResultType}>({value})" : $"new {ReturnType}({value})";
        }
    }

    private string BaseKeyword => IsRecord ? "record" : "class";

    /// <summary>The declaration's file: namespace, base type if it needs one, the containing type(s), the method and its body.</summary>
    public string Source()
    {
        var text = new StringBuilder();
        var blockNamespace = Namespace is not null && Container != ContainerKind.FileScopedNamespace;
        if (Container == ContainerKind.FileScopedNamespace)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"namespace {Namespace};");
        }
        else if (blockNamespace)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"namespace {Namespace}").AppendLine("{");
        }

        if (Colliding(NameRole.Type) is { } typeName)
        {
            text.AppendLine(NameCollisionAxis.TypeDeclaration(typeName, Collision!.Variant));
        }

        var signature = $"{ReturnType} RunAsync{TypeParameters}({DeclaredParameters})";
        var baseName = "B" + N.ToString(CultureInfo.InvariantCulture);
        if (Method is MethodKind.Override or MethodKind.New)
        {
            var member = Method == MethodKind.Override
                ? $"public abstract {signature}{Constraints};"
                : $"public {signature}{Constraints} => throw new global::System.NotSupportedException();";
            text.AppendLine(CultureInfo.InvariantCulture, $"public abstract {BaseKeyword} {baseName} {{ {member} }}");
        }

        if (Interface != InterfaceShape.None)
        {
            text.AppendLine(InterfaceMember());
        }

        var keyword = Container switch
        {
            ContainerKind.StaticClass => "static partial class",
            ContainerKind.Struct => "partial struct",
            ContainerKind.Record => "partial record",
            ContainerKind.RecordStruct => "partial record struct",
            _ => "partial class",
        };
        var header = new StringBuilder($"public {keyword} {TypeName}");
        if (Container == ContainerKind.GenericClass)
        {
            header.Append('<').Append(ClassTypeParameter).Append('>');
        }

        if (Provider == ProviderKind.PrimaryConstructor)
        {
            header.Append(CultureInfo.InvariantCulture, $"({ProviderType} {ProviderName})");
        }

        var bases = new[] { Method is MethodKind.Override or MethodKind.New ? baseName : null, Interface != InterfaceShape.None ? ImplementedInterface : null }.OfType<string>();
        if (bases.Any())
        {
            header.Append(" : ").AppendJoin(", ", bases);
        }

        if (Container == ContainerKind.Nested)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"public partial class Outer{N} {{");
        }

        text.AppendLine(header.ToString()).AppendLine("{");
        switch (Provider)
        {
            case ProviderKind.Field:
                text.AppendLine(CultureInfo.InvariantCulture, $"    private readonly {ProviderType} {ProviderName};");
                text.AppendLine(CultureInfo.InvariantCulture, $"    public {TypeName}({ProviderType} locks) {{ this.{ProviderName} = locks; }}");
                break;
            case ProviderKind.Property:
                text.AppendLine(CultureInfo.InvariantCulture, $"    public {ProviderType} {ProviderName} {{ get; }}");
                text.AppendLine(CultureInfo.InvariantCulture, $"    public {TypeName}({ProviderType} locks) {{ this.{ProviderName} = locks; }}");
                break;
            case ProviderKind.StaticMember:
                text.AppendLine(CultureInfo.InvariantCulture, $"    public static {ProviderType}? {ProviderName} {{ get; set; }}");
                break;
        }

        if (Colliding(NameRole.Member) is { } memberName)
        {
            text.AppendLine("    " + NameCollisionAxis.MemberDeclaration(memberName, Collision!.Variant));
        }

        var modifiers = Method switch
        {
            MethodKind.Static => "public static partial",
            MethodKind.Override => "public override partial",
            MethodKind.Virtual => "public virtual partial",
            MethodKind.New => "public new partial",
            _ => "public partial",
        };
        var constraints = Method == MethodKind.Override ? "" : Constraints; // an override inherits them
        var key = KeyPrefix + PlaceholderPart.Key + (NamedParameter is { } named ? "/{" + named + "}" : "");
        text.AppendLine(Leader
            ? $"    [global::ConsulLock.Aop.ConsulLeader(\"{key}\")]"
            : Kind == AttributeKind.Semaphore
                ? FormattableString.Invariant($"    [global::ConsulLock.Aop.ConsulSemaphore(\"{key}\", Limit = {SemaphoreLimit}, WaitTimeout = \"5s\"{TimeoutArgument})]")
                : FormattableString.Invariant($"    [global::ConsulLock.Aop.ConsulLocked(\"{key}\", WaitTimeout = \"5s\"{TimeoutArgument}{Holds?.Arguments})]"));
        text.AppendLine(CultureInfo.InvariantCulture, $"    {modifiers} {signature}{constraints};");
        var bodyStatic = Method == MethodKind.Static ? "static " : "";
        text.AppendLine(CultureInfo.InvariantCulture, $"    private {bodyStatic}{ReturnType} RunCoreAsync{TypeParameters}({BodyParameters}){Constraints} {{ global::Probe.Record({BodyToken}); return {Result}; }}");
        text.AppendLine("}");
        if (Container == ContainerKind.Nested)
        {
            text.AppendLine("}");
        }

        if (blockNamespace)
        {
            text.AppendLine("}");
        }

        return text.ToString();
    }
}
