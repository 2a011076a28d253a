using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// One test per diagnostic: the id, where it points (the span marked <c>[|…|]</c> in the source) and that the
/// message says how to fix it. Plus: valid code gets no diagnostic at all.
/// </summary>
public sealed class DiagnosticTests
{
    private const string Usings = GeneratorHarness.Usings;

    [Fact]
    public Task CLA001_a_method_with_a_body_or_without_partial() => Expect("CLA001", "partial", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public async Task [|RunAsync|](int id, CancellationToken cancellationToken) => await Task.Yield();
        }
        """);

    [Fact]
    public Task CLA002_a_containing_type_that_is_not_partial() => Expect("CLA002", "declared 'partial'", """
        public class [|Outer|]
        {
            public partial class Jobs
            {
                [ConsulLocked("jobs/{id}")]
                public partial Task RunAsync(int id, CancellationToken cancellationToken);

                private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
            }
        }
        """);

    [Fact]
    public async Task CLA003_a_placeholder_without_parameter_suggests_the_near_name()
    {
        var diagnostic = await Expect("CLA003", "did you mean '{id}'", """
            public partial class Jobs
            {
                [ConsulLocked("jobs/[|{Id}|]")]
                public partial Task RunAsync(int id, CancellationToken cancellationToken);

                private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);
        Assert.Contains("no parameter 'Id'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public Task CLA003_a_member_path_step_that_does_not_exist() => Expect("CLA003", "no readable property or field 'Nmae' on 'Customer'", """
        public sealed record Customer(string Name);

        public partial class Jobs
        {
            [ConsulLocked("customers/[|<customer.Nmae>|]")]
            public partial Task RunAsync(Customer customer, CancellationToken cancellationToken);

            private Task RunCoreAsync(Customer customer, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Theory]
    [InlineData("[|/jobs/{id}|]", "starts with '/'")]
    [InlineData("[|jobs//{id}|]", "empty segment")]
    [InlineData("[|jobs/../{id}|]", "'..' segment")]
    [InlineData("[|{id}/.consullock-queue/x|]", "'.consullock-queue' segment")]
    [InlineData("jobs/[|{id|]", "not closed")]
    [InlineData("jobs/[|}|]{id}", "closes no placeholder")]
    [InlineData("jobs/[|{}|]", "empty")]
    [InlineData("[||]", "the key is empty")]
    public Task CLA004_a_malformed_template(string template, string problem) => Expect("CLA004", problem, $$"""
        public partial class Jobs
        {
            [ConsulLocked("{{template}}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA005_a_return_type_that_is_not_a_task() => Expect("CLA005", "make it return Task", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial [|void|] Run(int id, CancellationToken cancellationToken);
        }
        """);

    [Fact]
    public Task CLA006_a_missing_body() => Expect("CLA006", "declare 'RunCoreAsync' returning 'Task' with the parameters (int id, CancellationToken cancellationToken)", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task [|RunAsync|](int id, CancellationToken cancellationToken);
        }
        """);

    [Fact]
    public Task CLA006_a_body_whose_parameters_do_not_match() => Expect("CLA006", "takes 'string id' where 'int id' is declared", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}", Body = [|nameof(Work)|])]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task Work(string id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Theory]
    [InlineData("SessionTtl = [|\"5s\"|]", "out of range")]
    [InlineData("SessionTtl = [|\"25h\"|]", "out of range")]
    [InlineData("LockDelay = [|\"61s\"|]", "out of range")]
    [InlineData("WaitTimeout = [|\"-1s\"|]", "is not a duration")]
    [InlineData("WaitTimeout = [|\"10 seconds\"|]", "is not a duration")]
    [InlineData("MinHold = [|\"25h\"|]", "out of range")]
    [InlineData("MinHold = [|\"-1s\"|]", "is not a duration")]
    [InlineData("MaxHold = [|\"500ms\"|]", "out of range")]
    [InlineData("MaxHold = [|\"25h\"|]", "out of range")]
    [InlineData("MaxHold = [|\"an hour\"|]", "is not a duration")]
    public Task CLA007_a_bad_duration(string property, string problem) => Expect("CLA007", problem, $$"""
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}", {{property}})]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA016_a_minimum_hold_longer_than_the_maximum() => Expect("CLA016", "shorten MinHold or lengthen MaxHold", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = [|"10m"|], MaxHold = "5m")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA017_a_leader_without_a_cancellation_token() => Expect("CLA017", "add a 'CancellationToken cancellationToken' parameter", """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial Task [|LeadAsync|]();

            private Task LeadCoreAsync(ConsulLockContext term) => Task.CompletedTask;
        }
        """);

    [Theory]
    [InlineData("Task<int>")]
    [InlineData("ValueTask")]
    [InlineData("void")]
    public Task CLA018_a_leader_that_does_not_return_Task(string returns) => Expect("CLA018", "make it return Task", $$"""
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial [|{{returns}}|] LeadAsync(CancellationToken cancellationToken);

            private {{returns}} LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => default!;
        }
        """);

    [Fact]
    public Task CLA020_a_semaphore_without_a_limit_of_at_least_1() => Expect("CLA020", "set Limit to how many bodies may run at once", """
        public partial class Exports
        {
            [ConsulSemaphore("exports/{tenant}", Limit = [|0|])]
            public partial Task RunAsync(string tenant, CancellationToken cancellationToken);

            private Task RunCoreAsync(string tenant, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA019_a_leader_that_is_also_locked() => Expect("CLA019", "keep one", """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            [ConsulLocked("leaders/scheduler")]
            public partial Task [|LeadAsync|](CancellationToken cancellationToken);

            private Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA020_a_semaphore_with_no_limit_at_all() => Expect("CLA020", "no Limit", """
        public partial class Exports
        {
            [[|ConsulSemaphore("exports/{tenant}")|]]
            public partial Task RunAsync(string tenant, CancellationToken cancellationToken);

            private Task RunCoreAsync(string tenant, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA019_a_leader_that_is_also_a_semaphore() => Expect("CLA019", "keep one: [ConsulLeader]", """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            [ConsulSemaphore("leaders/scheduler", Limit = 2)]
            public partial Task [|LeadAsync|](CancellationToken cancellationToken);

            private Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => Task.CompletedTask;
        }
        """);

    [Fact]
    public async Task A_leader_follows_the_lockeds_key_body_and_provider_rules()
    {
        // The same checks, the same ids: a placeholder naming nothing, a bad duration, and two missing bodies.
        var diagnostics = await GeneratorHarness.AnalyzeAsync(Usings + """
            public partial class Scheduler
            {
                [ConsulLeader("leaders/{region}", LockDelay = "2m")]
                public partial Task LeadAsync(string name, CancellationToken cancellationToken);

                [ConsulLeader("leaders/other")]
                public partial Task OtherAsync(CancellationToken cancellationToken);
            }
            """);

        Assert.Equal(["CLA003", "CLA006", "CLA006", "CLA007"], diagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public Task CLA021_a_semaphore_and_a_lock_on_one_method() => Expect("CLA021", "remove one", """
        public partial class Exports
        {
            [ConsulSemaphore("exports/{tenant}", Limit = 3)]
            [ConsulLocked("exports/{tenant}")]
            public partial Task [|RunAsync|](string tenant, CancellationToken cancellationToken);

            private Task RunCoreAsync(string tenant, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA008_a_ref_parameter() => Expect("CLA008", "pass it by value", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, [|ref int count|], CancellationToken cancellationToken);
        }
        """, allowOthers: true);

    [Fact]
    public Task CLA009_a_body_that_cannot_see_lock_loss() => Expect("CLA009", "add a CancellationToken parameter", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task [|RunAsync|](int id);

            private Task RunCoreAsync(int id) => Task.CompletedTask;
        }
        """);

    [Theory]
    [InlineData("object")]
    [InlineData("int[]")]
    [InlineData("System.Func<int>")]
    [InlineData("Payload")]
    public Task CLA010_a_placeholder_without_a_stable_text_form(string type) => Expect("CLA010", "use a member with a stable text form", $$"""
        public sealed class Payload { }

        public partial class Jobs
        {
            [ConsulLocked("jobs/[|{value}|]")]
            public partial Task RunAsync({{type}} value, CancellationToken cancellationToken);

            private Task RunCoreAsync({{type}} value, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA011_skip_on_a_method_that_returns_a_value() => Expect(
        "CLA011",
        "'RunAsync' returns Task<int>, and with OnTimeout = Skip its callers get default(int) when the lock is busy, which they can take for a result; " +
        "declare Task<bool> (the body returns true when it ran), Task<int?> (null when skipped) or Task (no result), or use OnTimeout = Throw",
        """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}", WaitTimeout = "1s", OnTimeout = [|LockTimeoutBehavior.Skip|])]
            public partial Task<int> RunAsync(int id, CancellationToken cancellationToken);

            private Task<int> RunCoreAsync(int id, CancellationToken cancellationToken) => Task.FromResult(id);
        }
        """);

    /// <summary>
    /// CLA011 stays for every result whose default a caller can take for a real one, with nullable annotations on
    /// (<c>enable</c>) and off (<c>disable</c>): there a <c>?</c> on a reference type means nothing (the compiler says so
    /// itself, CS8632), so <c>Task&lt;Report?&gt;</c> cannot say "skipped" either. The message names what would.
    /// </summary>
    [Theory]
    [InlineData("enable", "Task<int>", "", "Task<int?> (null when skipped)")]
    [InlineData("disable", "Task<int>", "", "Task<int?> (null when skipped)")]
    [InlineData("enable", "ValueTask<long>", "", "ValueTask<bool> (the body returns true when it ran), ValueTask<long?> (null when skipped) or ValueTask (no result)")]
    [InlineData("enable", "Task<Report>", "", "Task<Report?> (null when skipped)")]
    [InlineData("enable", "ValueTask<string>", "", "ValueTask<string?> (null when skipped)")]
    [InlineData("disable", "Task<Report>", "", "Task<Report?> (null when skipped, under #nullable enable)")]
    [InlineData("disable", "Task<Report?>", "", "Task<Report?> (null when skipped, under #nullable enable)")]
    [InlineData("disable", "Task<string>", "", "Task<string?> (null when skipped, under #nullable enable)")]
    [InlineData("enable", "Task<T>", "<T>", "declare Task<bool> (the body returns true when it ran) or Task (no result)")]
    [InlineData("enable", "Task<T?>", "<T>", "declare Task<bool> (the body returns true when it ran) or Task (no result)")]
    [InlineData("enable", "Task<T>", "<T> where T : class", "Task<T?> (null when skipped)")]
    [InlineData("enable", "Task<T>", "<T> where T : struct", "Task<T?> (null when skipped)")]
    [InlineData("enable", "Task<Kind>", "", "Task<Kind?> (null when skipped)")]
    public Task CLA011_skip_on_a_result_that_cannot_say_skipped(string nullable, string returns, string typeParameters, string fixText) =>
        Expect("CLA011", fixText, SkipMethod(nullable, returns, typeParameters, marked: true));

    /// <summary>
    /// Where the declared result already means "maybe no result", <c>default</c> is that answer and CLA011 keeps quiet:
    /// <c>bool</c> (the body returns true when it ran), a nullable value type, and a nullable reference type where
    /// annotations are on.
    /// </summary>
    [Theory]
    [InlineData("enable", "Task<bool>", "")]
    [InlineData("disable", "Task<bool>", "")]
    [InlineData("enable", "ValueTask<bool>", "")]
    [InlineData("enable", "Task<int?>", "")]
    [InlineData("disable", "Task<int?>", "")]
    [InlineData("enable", "ValueTask<System.DateTimeOffset?>", "")]
    [InlineData("enable", "Task<bool?>", "")]
    [InlineData("enable", "Task<Kind?>", "")]
    [InlineData("enable", "Task<Report?>", "")]
    [InlineData("enable", "ValueTask<string?>", "")]
    [InlineData("enable", "Task<System.Collections.Generic.List<Report>?>", "")]
    [InlineData("enable", "Task<T?>", "<T> where T : class")]
    [InlineData("enable", "Task<T?>", "<T> where T : struct")]
    public async Task No_CLA011_when_the_result_can_say_skipped(string nullable, string returns, string typeParameters)
    {
        var diagnostics = await GeneratorHarness.AnalyzeAsync(Usings + SkipMethod(nullable, returns, typeParameters, marked: false));
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    private static string SkipMethod(string nullable, string returns, string typeParameters, bool marked)
    {
        var (open, close) = marked ? ("[|", "|]") : ("", "");
        var parameters = typeParameters.Split(' ', 2);
        var (list, constraints) = typeParameters.Length == 0 ? ("", "") : (parameters[0], parameters.Length > 1 ? " " + parameters[1] : "");
        var result = returns[(returns.IndexOf('<', StringComparison.Ordinal) + 1)..^1];
        var task = returns[..returns.IndexOf('<', StringComparison.Ordinal)];
        return $$"""
            #nullable {{nullable}}
            public sealed class Report;
            public enum Kind { A, B }

            public partial class Jobs
            {
                [ConsulLocked("jobs/{id}", WaitTimeout = "0s", OnTimeout = {{open}}LockTimeoutBehavior.Skip{{close}})]
                public partial {{returns}} RunAsync{{list}}(int id, CancellationToken cancellationToken){{constraints}};

                private {{returns}} RunCoreAsync{{list}}(int id, CancellationToken cancellationToken){{constraints}} => {{task}}.FromResult<{{result}}>(default!);
            }
            """;
    }

    [Fact]
    public Task CLA012_calling_the_body_directly() => Expect("CLA012", "call 'RunAsync' instead", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;

            public Task Sneak() => [|RunCoreAsync(1, default)|];
        }
        """);

    [Fact]
    public async Task Valid_declarations_of_every_shape_get_no_diagnostic()
    {
        var diagnostics = await GeneratorHarness.AnalyzeAsync(Usings + """
            public sealed record Customer(int Id);

            public partial class Jobs(IConsulLockProvider locks)
            {
                [ConsulLocked("jobs/{customer.Id}/<n>", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, SessionTtl = "10s", LockDelay = "0s")]
                public partial Task RunAsync(Customer customer, int n, CancellationToken cancellationToken);

                private Task RunCoreAsync(Customer customer, int n, CancellationToken cancellationToken) => Task.CompletedTask;

                [ConsulLocked("values/{id}", SessionTtl = "24h", LockDelay = "60s")]
                public partial ValueTask<int> ReadAsync(string id);

                private ValueTask<int> ReadCoreAsync(string id, ConsulLockContext context) => new((int)context.FencingToken);

                public string Name => nameof(RunCoreAsync);
            }
            """);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    /// <summary>
    /// A generic method whose body returns or takes its type parameter matches the body whatever the constraint, also
    /// none: an unconstrained <c>T</c> once drew CLA006 ("returns 'Task&lt;T&gt;'; declare ... returning 'Task&lt;T&gt;'").
    /// </summary>
    [Theory]
    [InlineData("enable", "")]
    [InlineData("enable", " where T : notnull")]
    [InlineData("enable", " where T : class")]
    [InlineData("enable", " where T : class?")]
    [InlineData("enable", " where T : struct")]
    [InlineData("disable", "")]
    [InlineData("disable", " where T : class")]
    public async Task A_generic_body_matches_whatever_its_type_parameters_constraint(string nullable, string constraint)
    {
        var source = $$"""
            #nullable {{nullable}}
            public partial class Jobs
            {
                [ConsulLocked("jobs/{id}")]
                public partial Task<T> RunAsync<T>(int id, T item, CancellationToken cancellationToken){{constraint}};

                private Task<T> RunCoreAsync<T>(int id, T item, CancellationToken cancellationToken){{constraint}} => Task.FromResult<T>(item);
            }
            """;
        var diagnostics = await GeneratorHarness.AnalyzeAsync(Usings + source);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
        CompiledCode.Build(source).AssertClean();
    }

    [Theory]
    [InlineData("CLA003", """[ConsulLocked("jobs/{nope}")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA004", """[ConsulLocked("jobs/{id")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA005", """[ConsulLocked("jobs/{id}")] public partial int Run(int id);""")]
    [InlineData("CLA006", """[ConsulLocked("jobs/{id}")] public partial Task<string> MissingAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA007", """[ConsulLocked("jobs/{id}", WaitTimeout = "soon")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA008", """[ConsulLocked("jobs/{id}")] public partial Task RunAsync(int id, out int count, ref string text, in long big, CancellationToken cancellationToken);""")]
    [InlineData("CLA016", """[ConsulLocked("jobs/{id}", MinHold = "2h", MaxHold = "1h")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA020", """[ConsulSemaphore("jobs/{id}", Limit = 0)] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA021", """[ConsulSemaphore("jobs/{id}", Limit = 2), ConsulLocked("jobs/{id}")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA008", """[ConsulLocked("jobs/{id}")] internal static partial ValueTask<T?> RunAsync<T>(int id, ref T item) where T : class, new();""")]
    [InlineData("CLA017", """[ConsulLeader("jobs/{id}")] public partial Task RunAsync(int id);""")]
    [InlineData("CLA018", """[ConsulLeader("jobs/{id}")] public partial Task<int> RunAsync(int id, CancellationToken cancellationToken);""")]
    [InlineData("CLA019", """[ConsulLeader("jobs/{id}"), ConsulLocked("jobs/{id}")] public partial Task RunAsync(int id, CancellationToken cancellationToken);""")]
    public async Task A_method_with_an_error_gets_a_throwing_placeholder_so_the_only_error_is_ours(string id, string declaration)
    {
        var source = Usings + $$"""
            public partial class Jobs
            {
                {{declaration}}

                private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """;

        var generated = GeneratorHarness.Generate(source);
        var analyzed = await GeneratorHarness.AnalyzeAsync(source);

        Assert.Contains(analyzed, d => d.Id == id);
        Assert.Contains(generated.GeneratorDiagnostics, d => d.Id == id);
        // Without the placeholder the compiler adds CS8795 (or CS8796-CS8799) to our error; with it, nothing.
        Assert.True(generated.CompilerDiagnostics.Count == 0, string.Join("\n", generated.CompilerDiagnostics));
        Assert.Contains("throw new global::System.InvalidOperationException", generated.Single, StringComparison.Ordinal);
    }

    [Fact]
    public void A_type_that_is_not_partial_gets_no_placeholder_since_none_could_be_declared()
    {
        var generated = GeneratorHarness.Generate(Usings + """
            public class Outer
            {
                public partial class Jobs
                {
                    [ConsulLocked("jobs/{id}")]
                    public partial Task RunAsync(int id, CancellationToken cancellationToken);
                }
            }
            """);

        Assert.Empty(generated.Sources);
    }

    private static async Task<Diagnostic> Expect(string id, string fixText, string markedSource, bool allowOthers = false)
    {
        var source = Usings + markedSource;
        var start = source.IndexOf("[|", StringComparison.Ordinal);
        var end = source.IndexOf("|]", StringComparison.Ordinal) - 2;
        source = source.Replace("[|", "", StringComparison.Ordinal).Replace("|]", "", StringComparison.Ordinal);

        var diagnostics = await GeneratorHarness.AnalyzeAsync(source);
        var matching = diagnostics.Where(d => d.Id == id).ToList();
        Assert.True(matching.Count == 1, $"expected one {id}, got:\n{string.Join("\n", diagnostics)}");
        if (!allowOthers)
        {
            Assert.True(diagnostics.Count == 1, $"expected only {id}, got:\n{string.Join("\n", diagnostics)}");
        }

        var diagnostic = matching[0];
        Assert.Equal(source[start..end], source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Contains(fixText, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        return diagnostic;
    }
}
