using System.Globalization;
using System.Text;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>
/// Valid <c>[ConsulLocked]</c> declarations built from the axes a user varies: return type, placeholder kind, where the
/// token and the context go, the kind of method, the kind of containing type and namespace, and where the provider
/// comes from. Each axis value meets every value of the others in rotation, so a few thousand declarations cover
/// every pair of values.
/// </summary>
internal static class DeclarationMatrix
{
    public static readonly string[] Returns = ["Task", "Task<int>", "ValueTask", "ValueTask<string>"];

    public static readonly PlaceholderKind[] Placeholders = Enum.GetValues<PlaceholderKind>();

    public static readonly TokenShape[] Tokens = Enum.GetValues<TokenShape>();

    public static readonly MethodKind[] Methods = Enum.GetValues<MethodKind>();

    public static readonly ContainerKind[] Containers = Enum.GetValues<ContainerKind>();

    public static readonly ProviderKind[] Providers = Enum.GetValues<ProviderKind>();

    /// <summary>What every batch shares: the types placeholders walk through, and the probe bodies report to.</summary>
    public const string SharedSource = """
        public sealed record Customer(int Id);
        public sealed record Order(Customer Customer);
        public enum Color { Red, Green }

        public static class Probe
        {
            public static ConsulLock.Aop.Testing.InMemoryConsulLockProvider? Provider { get; set; }

            public static string? HeldDuringBody { get; set; }

            public static void Record() => HeldDuringBody = string.Join("|", Provider?.HeldKeys ?? []);
        }
        """;

    /// <summary><paramref name="rounds"/> times every combination of return, placeholder, token and method kind, each round with containers and providers rotated.</summary>
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
                            yield return new Declaration(n++, returns, placeholder, token, method, container, provider);
                        }
                    }
                }
            }
        }
    }
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
internal sealed record Declaration(int N, string Returns, PlaceholderKind Placeholder, TokenShape Token, MethodKind RequestedMethod, ContainerKind Container, ProviderKind RequestedProvider)
{
    private bool IsStruct => Container is ContainerKind.Struct or ContainerKind.RecordStruct;

    private bool IsRecord => Container is ContainerKind.Record or ContainerKind.RecordStruct;

    /// <summary>Structs cannot inherit: their override, virtual and new become plain instance methods.</summary>
    public MethodKind Method => IsStruct && RequestedMethod is MethodKind.Override or MethodKind.Virtual or MethodKind.New ? MethodKind.Instance : RequestedMethod;

    /// <summary>A static method cannot use an instance member: it gets a static member or a parameter instead.</summary>
    public ProviderKind Provider => Method != MethodKind.Static
        ? RequestedProvider
        : RequestedProvider switch
        {
            ProviderKind.Field or ProviderKind.Property => ProviderKind.StaticMember,
            ProviderKind.PrimaryConstructor => ProviderKind.Parameter,
            _ => RequestedProvider,
        };

    public string TypeName => "T" + N.ToString(CultureInfo.InvariantCulture);

    /// <summary>The name reflection finds the type by (open generic for the generic container).</summary>
    public string MetadataName => Container switch
    {
        ContainerKind.GlobalNamespace => TypeName,
        ContainerKind.Nested => $"Matrix.Outer{N}+{TypeName}",
        ContainerKind.GenericClass => $"Matrix.{TypeName}`1",
        _ => "Matrix." + TypeName,
    };

    private bool HasItem => Placeholder == PlaceholderKind.GenericTypeParameter;

    private bool HasTag => Method == MethodKind.Generic;

    public Type[] MethodTypeArguments => [.. HasItem ? [typeof(int)] : Array.Empty<Type>(), .. HasTag ? [typeof(string)] : Array.Empty<Type>()];

    private string TypeParameters =>
        HasItem || HasTag ? "<" + string.Join(", ", new[] { HasItem ? "TItem" : null, HasTag ? "TTag" : null }.OfType<string>()) + ">" : "";

    private string Constraints => (HasItem ? " where TItem : notnull" : "") + (HasTag ? " where TTag : class" : "");

    private (string Declared, string Key) PlaceholderPart => Placeholder switch
    {
        PlaceholderKind.Plain => ("int id", "{id}"),
        PlaceholderKind.MemberPathAndPlain => ("Order order, string kind", "{order.Customer.Id}/{kind}"),
        PlaceholderKind.NullableValue => ("int? batch", "{batch}"),
        PlaceholderKind.Enum => ("Color color", "{color}"),
        PlaceholderKind.Guid => ("System.Guid guid", "{guid}"),
        PlaceholderKind.DateTime => ("System.DateTime at", "{at}"),
        PlaceholderKind.GenericTypeParameter => ("TItem item", "{item}"),
        PlaceholderKind.Format => ("System.DateTime day", "{day:yyyy-MM-dd}"),
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

    /// <summary>The parameters the declaration and its body share: the provider, if passed in, and the placeholders' values.</summary>
    private IEnumerable<string> SharedParameters =>
        Provider == ProviderKind.Parameter ? ["IConsulLockProvider locks", PlaceholderPart.Declared] : [PlaceholderPart.Declared];

    private string DeclaredParameters => string.Join(", ", SharedParameters.Concat(HasTokenParameter ? ["CancellationToken ct"] : []));

    private string BodyParameters => string.Join(", ", SharedParameters.Concat(Token switch
    {
        TokenShape.TokenLast => ["CancellationToken ct"],
        TokenShape.ContextLast => ["ConsulLockContext context"],
        TokenShape.ContextBeforeToken => ["ConsulLockContext context", "CancellationToken ct"],
        _ => ["CancellationToken lost"],
    }));

    public bool HasTokenParameter => Token is TokenShape.TokenLast or TokenShape.ContextBeforeToken;

    private string Result => Returns switch
    {
        "Task" => "Task.CompletedTask",
        "Task<int>" => "Task.FromResult(1)",
        "ValueTask" => "default",
        _ => "new ValueTask<string>(\"done\")",
    };

    private string BaseKeyword => IsRecord ? "record" : "class";

    /// <summary>The declaration's file: namespace, base type if it needs one, the containing type(s), the method and its body.</summary>
    public string Source()
    {
        var text = new StringBuilder();
        text.AppendLine("using System.Threading;").AppendLine("using System.Threading.Tasks;").AppendLine("using ConsulLock.Aop;");
        var blockNamespace = Container is not (ContainerKind.GlobalNamespace or ContainerKind.FileScopedNamespace);
        if (Container == ContainerKind.FileScopedNamespace)
        {
            text.AppendLine("namespace Matrix;");
        }
        else if (blockNamespace)
        {
            text.AppendLine("namespace Matrix").AppendLine("{");
        }

        var signature = $"{Returns} RunAsync{TypeParameters}({DeclaredParameters})";
        var baseName = "B" + N.ToString(CultureInfo.InvariantCulture);
        if (Method is MethodKind.Override or MethodKind.New)
        {
            var member = Method == MethodKind.Override
                ? $"public abstract {signature}{Constraints};"
                : $"public {signature}{Constraints} => throw new System.NotSupportedException();";
            text.AppendLine(CultureInfo.InvariantCulture, $"public abstract {BaseKeyword} {baseName} {{ {member} }}");
        }

        var keyword = Container switch
        {
            ContainerKind.Struct => "struct",
            ContainerKind.Record => "record",
            ContainerKind.RecordStruct => "record struct",
            _ => "class",
        };
        var header = new StringBuilder($"public partial {keyword} {TypeName}");
        if (Container == ContainerKind.GenericClass)
        {
            header.Append("<TKey>");
        }

        if (Provider == ProviderKind.PrimaryConstructor)
        {
            header.Append(IsRecord ? "(IConsulLockProvider Locks)" : "(IConsulLockProvider locks)");
        }

        if (Method is MethodKind.Override or MethodKind.New)
        {
            header.Append(" : ").Append(baseName);
        }

        if (Container == ContainerKind.Nested)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"public partial class Outer{N} {{");
        }

        text.AppendLine(header.ToString()).AppendLine("{");
        switch (Provider)
        {
            case ProviderKind.Field:
                text.AppendLine("    private readonly IConsulLockProvider _locks;");
                text.AppendLine(CultureInfo.InvariantCulture, $"    public {TypeName}(IConsulLockProvider locks) {{ _locks = locks; }}");
                break;
            case ProviderKind.Property:
                text.AppendLine("    public IConsulLockProvider Locks { get; }");
                text.AppendLine(CultureInfo.InvariantCulture, $"    public {TypeName}(IConsulLockProvider locks) {{ Locks = locks; }}");
                break;
            case ProviderKind.StaticMember:
                text.AppendLine("    public static IConsulLockProvider? SharedLocks { get; set; }");
                break;
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
        text.AppendLine(CultureInfo.InvariantCulture, $"    [ConsulLocked(\"{KeyPrefix}{PlaceholderPart.Key}\", WaitTimeout = \"5s\")]");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {modifiers} {signature}{constraints};");
        var bodyStatic = Method == MethodKind.Static ? "static " : "";
        text.AppendLine(CultureInfo.InvariantCulture, $"    private {bodyStatic}{Returns} RunCoreAsync{TypeParameters}({BodyParameters}){Constraints} {{ Probe.Record(); return {Result}; }}");
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
