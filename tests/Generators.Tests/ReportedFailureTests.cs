using System.Reflection;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using ConsulLock.Aop.Testing;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// The failures new users reported (issue 11's table, issue 13's generator rows, and what reading the code added), one
/// test each, written to fail on the code they were reported against.
/// </summary>
public sealed class ReportedFailureTests
{
    [Fact]
    public void A_member_path_next_to_a_plain_placeholder_compiles()
    {
        // Was CS8421: the static local function that built the key referred to 'kind'.
        var build = CompiledCode.Build("""
            public sealed record Customer(int Id);
            public sealed record Order(Customer Customer);

            public partial class Orders(IConsulLockProvider locks)
            {
                [ConsulLocked("orders/{order.Customer.Id}/{kind}")]
                public partial Task<int> ProcessAsync(Order order, string kind, CancellationToken ct);

                private Task<int> ProcessCoreAsync(Order order, string kind, CancellationToken ct) => Task.FromResult(order.Customer.Id);
            }
            """);

        AssertClean(build);
    }

    [Fact]
    public void A_member_path_into_an_unconstrained_type_parameter_compiles()
    {
        // Was CS8978: 'TKey' cannot be made nullable (envelope?.Key).
        var build = CompiledCode.Build("""
            public sealed record Envelope<TKey>(TKey Key);

            public partial class Consumer<TKey>(IConsulLockProvider locks)
            {
                [ConsulLocked("msg/{envelope.Key}")]
                public partial Task HandleAsync(Envelope<TKey> envelope, CancellationToken ct);

                private Task HandleCoreAsync(Envelope<TKey> envelope, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        AssertClean(build);
    }

    [Fact]
    public void An_override_does_not_repeat_its_inherited_constraints()
    {
        // Was CS0460: constraints repeated on an override.
        var build = CompiledCode.Build("""
            public abstract class Worker
            {
                public abstract Task RunAsync<T>(T item, CancellationToken ct) where T : notnull;
            }

            public partial class ItemWorker(IConsulLockProvider locks) : Worker
            {
                [ConsulLocked("items/{item}")]
                public override partial Task RunAsync<T>(T item, CancellationToken ct);

                private Task RunCoreAsync<T>(T item, CancellationToken ct) where T : notnull => Task.CompletedTask;
            }
            """);

        AssertClean(build);
    }

    [Fact]
    public void A_struct_instance_method_with_a_static_body_compiles()
    {
        // Was CS0176: self.RunCoreAsync(...) on a static body.
        var build = CompiledCode.Build("""
            public partial struct Ticker
            {
                [ConsulLocked("ticks/{n}")]
                public partial Task RunAsync(int n, CancellationToken ct);

                private static Task RunCoreAsync(int n, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        AssertClean(build);
    }

    [Fact]
    public void A_type_nested_in_a_non_partial_type_is_reported_by_the_generator_itself()
    {
        // Was: only CS8795, since the compiler stops before analyzers run. The generator always runs.
        var build = CompiledCode.Build("""
            public class Outer
            {
                public partial class Jobs
                {
                    [ConsulLocked("jobs/{id}")]
                    public partial Task RunAsync(int id, CancellationToken ct);

                    private Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
                }
            }
            """);

        Assert.Contains(build.Generator, d => d.Id == "CLA002" && d.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void A_misuse_fails_the_build_without_any_analyzer()
    {
        // Was: green with RunAnalyzers=false, throwing at run time. CompiledCode.Build runs the generator only.
        var build = CompiledCode.Build("""
            public partial class Jobs
            {
                [ConsulLocked("jobs/{job}")]
                public partial Task RunAsync(int id, CancellationToken ct);

                private Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        Assert.Equal(["CLA003"], build.Generator.Select(d => d.Id));
        Assert.Equal(DiagnosticSeverity.Error, build.Generator[0].Severity);
        Assert.Empty(build.Compiler);
    }

    [Theory]
    [InlineData("a lambda", """
        public static class Hooks
        {
            public static System.Func<string, Task> Handler = [ConsulLocked("hook/{id}")] (string id) => Task.CompletedTask;
        }
        """)]
    [InlineData("a local function", """
        public static class Hooks
        {
            public static Task Run(string id)
            {
                return HandleAsync(id);

                [ConsulLocked("hook/{id}")]
                static Task HandleAsync(string id) => Task.CompletedTask;
            }
        }
        """)]
    [InlineData("an interface method without a body part", """
        public interface IHooks
        {
            [ConsulLocked("hook/{id}")]
            Task HandleAsync(string id, CancellationToken ct);
        }
        """)]
    [InlineData("an abstract method", """
        public abstract partial class Hooks
        {
            [ConsulLocked("hook/{id}")]
            public abstract Task HandleAsync(string id, CancellationToken ct);
        }
        """)]
    [InlineData("a property or event accessor", """
        public partial class Hooks
        {
            public Task Current { [ConsulLocked("hook")] get => Task.CompletedTask; }
        }
        """)]
    public void The_attribute_where_no_lock_can_be_generated_is_CLA013(string what, string source)
    {
        // Was: compiled and ran without any lock, with no diagnostic.
        var build = CompiledCode.Build(source);

        build.AssertOnly("CLA013", what);
    }

    [Fact]
    public async Task A_provider_parameter_of_a_static_method_is_the_provider()
    {
        // Was: the parameter was ignored and ConsulLocking.Default (unset) made the call throw.
        var build = CompiledCode.Build("""
            public static partial class Receiver
            {
                [ConsulLocked("hooks/{id}")]
                public static partial Task<string> ReceiveAsync(IConsulLockProvider locks, string id, CancellationToken ct);

                private static Task<string> ReceiveCoreAsync(IConsulLockProvider locks, string id, ConsulLockContext context, CancellationToken ct) =>
                    Task.FromResult(context.Key);
            }
            """);
        AssertClean(build);

        var locks = new InMemoryConsulLockProvider();
        var receive = CompiledCode.Load(build.Output).GetType("Receiver")!.GetMethod("ReceiveAsync")!;
        var key = await (Task<string>)receive.Invoke(null, [locks, "42", CancellationToken.None])!;

        Assert.Equal("hooks/42", key);
        Assert.Equal(1, locks.GrantCount);
    }

    [Fact]
    public void Two_candidate_providers_are_an_error_naming_both_and_Provider_chooses()
    {
        // Was: compiled silently; the first member won.
        const string Source = """
            public partial class Receiver
            {
                private readonly IConsulLockProvider _primary = null!;
                private readonly IConsulLockProvider _secondary = null!;

                [ConsulLocked("hooks/{id}"CHOICE)]
                public partial Task ReceiveAsync(string id, CancellationToken ct);

                private Task ReceiveCoreAsync(string id, CancellationToken ct) => Task.FromResult(_primary == _secondary);
            }
            """;
        var ambiguous = CompiledCode.Build(Source.Replace("CHOICE", "", StringComparison.Ordinal));
        var error = Assert.Single(ambiguous.Generator);
        Assert.Equal("CLA015", error.Id);
        var message = error.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("'_primary'", message, StringComparison.Ordinal);
        Assert.Contains("'_secondary'", message, StringComparison.Ordinal);
        Assert.Contains("Provider = nameof(", message, StringComparison.Ordinal);
        Assert.Empty(ambiguous.Compiler);

        var chosen = CompiledCode.Build(Source.Replace("CHOICE", ", Provider = nameof(_secondary)", StringComparison.Ordinal));
        AssertClean(chosen);
        Assert.Contains("this._secondary,", chosen.Generated, StringComparison.Ordinal);

        var wrong = CompiledCode.Build(Source.Replace("CHOICE", ", Provider = \"_third\"", StringComparison.Ordinal));
        Assert.Contains("nameof(_primary), nameof(_secondary)", Assert.Single(wrong.Generator, d => d.Id == "CLA015").GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void An_error_in_a_type_with_a_primary_constructor_provider_brings_no_CS9113()
    {
        var build = CompiledCode.Build("""
            public sealed partial class Receiver(IConsulLockProvider locks)
            {
                [ConsulLocked("hooks/{nope}")]
                public partial Task ReceiveAsync(string id, CancellationToken ct);

                private Task ReceiveCoreAsync(string id, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        Assert.Equal(["CLA003"], build.Generator.Select(d => d.Id));
        Assert.True(build.Compiler.Count == 0, string.Join("\n", build.Compiler));
    }

    [Theory]
    [InlineData("private readonly IConsulLockProvider _locks; public Receiver(IConsulLockProvider locks) { _locks = locks; }")]
    [InlineData("private IConsulLockProvider Locks { get; } public Receiver(IConsulLockProvider locks) { Locks = locks; }")]
    [InlineData("private static readonly IConsulLockProvider? s_locks = null;")]
    [InlineData("private static readonly IConsulLockProvider? s_locks = null;", "static ")]
    public void An_error_brings_no_warning_about_an_unused_provider_member(string provider, string isStatic = "")
    {
        foreach (var method in new[]
        {
            """[ConsulLocked("hooks/{nope}")] public S partial Task ReceiveAsync(string id, CancellationToken ct);""",
            """[ConsulLocked("hooks/{id}")] public S Task ReceiveAsync(string id, CancellationToken ct) => Task.CompletedTask;""",
        })
        {
            var build = CompiledCode.Build($$"""
                public {{isStatic}}partial class Receiver
                {
                    {{provider}}

                    {{method.Replace(" S ", " " + isStatic, StringComparison.Ordinal)}}

                    private {{isStatic}}Task ReceiveCoreAsync(string id, CancellationToken ct) => Task.CompletedTask;
                }
                """);

            Assert.Single(build.Generator);
            Assert.True(build.Compiler.Count == 0, string.Join("\n", build.Compiler) + "\n" + build.Generated);
        }
    }

    [Fact]
    public void CLA006_names_a_near_miss_body_and_Body_nameof()
    {
        var build = CompiledCode.Build("""
            public sealed partial class Receiver(IConsulLockProvider locks)
            {
                [ConsulLocked("hooks/{id}")]
                public partial Task<int> ReceiveAsync(string id, CancellationToken ct);

                private Task<int> ReceiveAsyncCore(string id, CancellationToken ct) => Task.FromResult(1);
            }
            """);

        var message = Assert.Single(build.Generator, d => d.Id == "CLA006").GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("did you mean 'ReceiveAsyncCore'?", message, StringComparison.Ordinal);
        Assert.Contains("Body = nameof(ReceiveAsyncCore)", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_placeholder_warns_since_its_ToString_is_not_a_stable_key()
    {
        var diagnostics = await GeneratorHarness.AnalyzeAsync(GeneratorHarness.Usings + """
            public sealed record Order(int Id, decimal Total);

            public partial class Orders(IConsulLockProvider locks)
            {
                [ConsulLocked("orders/{order}")]
                public partial Task ShipAsync(Order order, CancellationToken ct);

                private Task ShipCoreAsync(Order order, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        var warning = Assert.Single(diagnostics);
        Assert.Equal("CLA010", warning.Id);
        Assert.Contains("record", warning.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CLA012_flags_the_body_only_not_its_overloads_nor_its_own_recursion()
    {
        var diagnostics = await GeneratorHarness.AnalyzeAsync(GeneratorHarness.Usings + """
            public partial class Jobs(IConsulLockProvider locks)
            {
                [ConsulLocked("jobs/{id}")]
                public partial Task RunAsync(int id, CancellationToken ct);

                private async Task RunCoreAsync(int id, CancellationToken ct)
                {
                    if (id > 0)
                    {
                        await RunCoreAsync(id - 1, ct); // recursion, already under the lock
                    }
                }

                private Task RunCoreAsync(string name, CancellationToken ct) => Task.CompletedTask; // an overload, not the body

                public Task Other() => RunCoreAsync("x", default);

                public Task Sneak() => RunCoreAsync(1, default);
            }
            """);

        var flagged = Assert.Single(diagnostics);
        Assert.Equal("CLA012", flagged.Id);
        Assert.Contains("RunCoreAsync(1, default)", flagged.Location.SourceTree!.ToString().Substring(flagged.Location.SourceSpan.Start, flagged.Location.SourceSpan.Length), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("private Task<string?> RunCoreAsync(int id, CancellationToken ct) => Task.FromResult<string?>(null);", "returns 'Task<string?>'")]
    [InlineData("private Task<string> RunCoreAsync(int? id, CancellationToken ct) => Task.FromResult(\"\");", "takes 'int? id'")]
    [InlineData("private Task<string> RunCoreAsync(int id, string? note, CancellationToken ct) => Task.FromResult(\"\");", "takes 'string? note'")]
    public void CLA006_sees_nullability(string body, string problem)
    {
        var build = CompiledCode.Build($$"""
            public partial class Jobs(IConsulLockProvider locks)
            {
                [ConsulLocked("jobs/{id}")]
                public partial Task<string> RunAsync(int id, {{(body.Contains("note", StringComparison.Ordinal) ? "string note, " : "")}}CancellationToken ct);

                {{body}}
            }
            """);

        if (body.Contains("note", StringComparison.Ordinal))
        {
            // A body that accepts null where the declaration passes non-null is fine.
            AssertClean(build);
            return;
        }

        Assert.Contains(problem, Assert.Single(build.Generator, d => d.Id == "CLA006").GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.True(build.Compiler.Count == 0, string.Join("\n", build.Compiler));
    }

    [Fact]
    public void CLA006_sees_a_constraint_the_declaration_does_not_promise()
    {
        var build = CompiledCode.Build("""
            public partial class Jobs(IConsulLockProvider locks)
            {
                [ConsulLocked("jobs/{id}")]
                public partial Task RunAsync<T>(int id, T item, CancellationToken ct);

                private Task RunCoreAsync<T>(int id, T item, CancellationToken ct) where T : class => Task.CompletedTask;
            }
            """);

        Assert.Contains("requires 'where T : class'", Assert.Single(build.Generator, d => d.Id == "CLA006").GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.True(build.Compiler.Count == 0, string.Join("\n", build.Compiler));
    }

    [Fact]
    public async Task A_parameter_named_like_the_provider_member_is_the_placeholder_and_the_member_the_provider()
    {
        // Issue 19. Was CS0029 and CS1662: the generated code passed the string parameter 'provider' where it meant the
        // static field 'provider'.
        var build = CompiledCode.Build("""
            public static partial class Sync
            {
                public static IConsulLockProvider provider = null!;

                [ConsulLocked("sync/{provider}")]
                public static partial Task<string> SyncAsync(string provider, CancellationToken cancellationToken);

                private static Task<string> SyncCoreAsync(string provider, ConsulLockContext context, CancellationToken cancellationToken) =>
                    Task.FromResult(context.Key + " " + provider);
            }
            """);
        AssertClean(build);

        var locks = new InMemoryConsulLockProvider();
        var type = CompiledCode.Load(build.Output).GetType("Sync")!;
        type.GetField("provider")!.SetValue(null, locks);
        var result = await (Task<string>)type.GetMethod("SyncAsync")!.Invoke(null, ["github", CancellationToken.None])!;

        Assert.Equal("sync/github github", result);
        Assert.Equal(1, locks.GrantCount);
    }

    [Fact]
    public async Task A_provider_member_hidden_by_a_derived_member_of_its_name_is_not_the_provider()
    {
        // Found with issue 19: 'this.Locks' read the derived string, not the base's provider (CS1503). C#'s member lookup
        // finds the derived member, so the base's is no candidate; the primary-constructor parameter is. The namespace's
        // keywords are escaped where the generated file reopens it.
        var build = CompiledCode.Build("""
            namespace Jobs.@event
            {
                public abstract class Worker
                {
                    protected IConsulLockProvider? Locks { get; init; }
                }

                public sealed partial class Importer(IConsulLockProvider locks) : Worker
                {
                    private new string Locks => "not a provider";

                    [ConsulLocked("imports/{id}")]
                    public partial Task<string> ImportAsync(int id, CancellationToken ct);

                    private Task<string> ImportCoreAsync(int id, ConsulLockContext context, CancellationToken ct) => Task.FromResult(context.Key + " " + Locks);
                }
            }
            """);
        AssertClean(build);

        var locks = new InMemoryConsulLockProvider();
        var type = CompiledCode.Load(build.Output).GetType("Jobs.event.Importer")!;
        var result = await (Task<string>)type.GetMethod("ImportAsync")!.Invoke(Activator.CreateInstance(type, locks), [7, CancellationToken.None])!;

        Assert.Equal("imports/7 not a provider", result);
        Assert.Equal(1, locks.GrantCount);
    }

    [Fact]
    public void An_error_in_a_method_whose_parameter_hides_the_primary_constructor_provider_brings_no_CS9113()
    {
        // The placeholder written for a method with errors reads the provider through the same relay as a lock would.
        var build = CompiledCode.Build("""
            public sealed partial class Receiver(IConsulLockProvider locks)
            {
                [ConsulLocked("hooks/{nope}")]
                public partial Task ReceiveAsync(string locks, CancellationToken ct);

                private Task ReceiveCoreAsync(string locks, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        Assert.Equal(["CLA003"], build.Generator.Select(d => d.Id));
        Assert.True(build.Compiler.Count == 0, string.Join("\n", build.Compiler) + "\n" + build.Generated);
    }

    [Fact]
    public void Every_descriptor_links_to_its_page_in_the_repository()
    {
        var descriptors = typeof(LockedMethodGenerator).Assembly.GetType("ConsulLock.Aop.Generators.Diagnostics.DiagnosticDescriptors")!
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetValue(null))
            .OfType<DiagnosticDescriptor>()
            .ToList();

        Assert.True(descriptors.Count >= 15, $"found {descriptors.Count} descriptors");
        foreach (var descriptor in descriptors)
        {
            Assert.EndsWith($"/docs/diagnostics/{descriptor.Id}.md", descriptor.HelpLinkUri, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(TestSupport.ConsulBinary.RepositoryRoot, "docs", "diagnostics", descriptor.Id + ".md")), $"no page for {descriptor.Id}");
        }
    }

    private static void AssertClean(BuiltCode build) => build.AssertClean();
}
