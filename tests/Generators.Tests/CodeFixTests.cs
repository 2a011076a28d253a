using System.Collections.Immutable;
using ConsulLock.Aop.Generators.CodeFixes;
using ConsulLock.Aop.Generators.Diagnostics;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Formatting;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>The code fixes, applied the way an editor applies them, in an in-memory workspace.</summary>
public sealed class CodeFixTests
{
    private const string Usings = GeneratorHarness.Usings;

    [Fact]
    public Task Make_the_type_partial() => AssertFix(new MakePartialCodeFix(), "CLA002", """
        public class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """, """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Make_the_method_partial_and_move_its_body() => AssertFix(new MakePartialCodeFix(), "CLA001", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public async Task RunAsync(int id, CancellationToken cancellationToken)
            {
                await Task.Delay(1, cancellationToken);
            }
        }
        """, """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private async Task RunCoreAsync(int id, CancellationToken cancellationToken)
            {
                await Task.Delay(1, cancellationToken);
            }
        }
        """);

    [Fact]
    public Task Create_the_missing_body_method() => AssertFix(new CreateBodyMethodCodeFix(), "CLA006", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task<int> RunAsync(int id, CancellationToken cancellationToken);
        }
        """, """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task<int> RunAsync(int id, CancellationToken cancellationToken);

            private Task<int> RunCoreAsync(int id, CancellationToken cancellationToken) => throw new System.NotImplementedException();
        }
        """);

    [Fact]
    public Task Create_a_body_that_can_observe_lock_loss_when_the_declaration_has_no_token() => AssertFix(new CreateBodyMethodCodeFix(), "CLA006", """
        public static partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public static partial ValueTask RunAsync(string id);
        }
        """, """
        public static partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public static partial ValueTask RunAsync(string id);

            private static ValueTask RunCoreAsync(string id, ConsulLockContext lockContext) => throw new System.NotImplementedException();
        }
        """);

    [Fact]
    public Task Rename_a_placeholder_that_differs_from_its_parameter_only_in_case() => AssertFix(new RenamePlaceholderCodeFix(), "CLA003", """
        public sealed record Order(string Id);

        public partial class Jobs
        {
            [ConsulLocked("tenants/{tenant}/orders/<Order.Id>")]
            public partial Task RunAsync(string tenant, Order order, CancellationToken cancellationToken);

            private Task RunCoreAsync(string tenant, Order order, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """, """
        public sealed record Order(string Id);

        public partial class Jobs
        {
            [ConsulLocked("tenants/{tenant}/orders/<order.Id>")]
            public partial Task RunAsync(string tenant, Order order, CancellationToken cancellationToken);

            private Task RunCoreAsync(string tenant, Order order, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Make_an_override_partial_keeps_override_on_the_declaration_only() => AssertFix(new MakePartialCodeFix(), "CLA001", """
        public abstract class Worker
        {
            public abstract Task RunAsync(int id, CancellationToken cancellationToken);
        }

        public partial class Jobs(IConsulLockProvider locks) : Worker
        {
            [ConsulLocked("jobs/{id}")]
            public override async Task RunAsync(int id, CancellationToken cancellationToken)
            {
                await Task.Delay(1, cancellationToken);
            }
        }
        """, """
        public abstract class Worker
        {
            public abstract Task RunAsync(int id, CancellationToken cancellationToken);
        }

        public partial class Jobs(IConsulLockProvider locks) : Worker
        {
            [ConsulLocked("jobs/{id}")]
            public override partial Task RunAsync(int id, CancellationToken cancellationToken);

            private async Task RunCoreAsync(int id, CancellationToken cancellationToken)
            {
                await Task.Delay(1, cancellationToken);
            }
        }
        """);

    [Fact]
    public Task Make_partial_gives_a_method_without_accessibility_private_and_keeps_its_docs_above_the_attributes() => AssertFix(new MakePartialCodeFix(), "CLA001", """
        public partial class Jobs
        {
            /// <summary>Runs a job.</summary>
            [ConsulLocked("jobs/{id}")]
            Task<int> RunAsync(int id, CancellationToken cancellationToken) => Task.FromResult(id);
        }
        """, """
        public partial class Jobs
        {
            /// <summary>Runs a job.</summary>
            [ConsulLocked("jobs/{id}")]
            private partial Task<int> RunAsync(int id, CancellationToken cancellationToken);

            private Task<int> RunCoreAsync(int id, CancellationToken cancellationToken) => Task.FromResult(id);
        }
        """);

    [Fact]
    public Task Create_a_body_after_optional_and_params_parameters() => AssertFix(new CreateBodyMethodCodeFix(), "CLA006", """
        public static partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public static partial ValueTask RunAsync(string id, int retries = 3, params string[] tags);
        }
        """, """
        public static partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public static partial ValueTask RunAsync(string id, int retries = 3, params string[] tags);

            private static ValueTask RunCoreAsync(string id, int retries, string[] tags, ConsulLockContext lockContext) => throw new System.NotImplementedException();
        }
        """);

    [Fact]
    public Task Fix_all_creates_every_missing_body_in_the_document() => AssertFixAll(new CreateBodyMethodCodeFix(), "CLA006", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            [ConsulLocked("reports/{day:yyyy-MM-dd}")]
            public partial Task<string> ReportAsync(System.DateTime day, CancellationToken cancellationToken);
        }
        """, """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => throw new System.NotImplementedException();

            [ConsulLocked("reports/{day:yyyy-MM-dd}")]
            public partial Task<string> ReportAsync(System.DateTime day, CancellationToken cancellationToken);

            private Task<string> ReportCoreAsync(System.DateTime day, CancellationToken cancellationToken) => throw new System.NotImplementedException();
        }
        """);

    [Fact]
    public Task Fix_all_makes_every_method_partial() => AssertFixAll(new MakePartialCodeFix(), "CLA001", """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public Task RunAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;

            [ConsulLocked("other/{id}")]
            internal Task OtherAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """, """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{id}")]
            public partial Task RunAsync(int id, CancellationToken cancellationToken);

            private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;

            [ConsulLocked("other/{id}")]
            internal partial Task OtherAsync(int id, CancellationToken cancellationToken);

            private Task OtherCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public async Task No_rename_is_offered_when_no_parameter_is_near()
    {
        var actions = await FixesFor(new RenamePlaceholderCodeFix(), "CLA003", """
            public partial class Jobs
            {
                [ConsulLocked("jobs/{job}")]
                public partial Task RunAsync(int id, CancellationToken cancellationToken);

                private Task RunCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        Assert.Empty(actions);
    }

    private static async Task<List<CodeAction>> FixesFor(CodeFixProvider fix, string id, string source)
    {
        using var workspace = new AdhocWorkspace();
        var (document, diagnostic) = await DiagnosedAsync(workspace, id, source);
        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        return actions;
    }

    private static async Task<(Document Document, Diagnostic Diagnostic)> DiagnosedAsync(AdhocWorkspace workspace, string id, string source, bool single = true)
    {
        var project = workspace.AddProject("User", LanguageNames.CSharp)
            .WithMetadataReferences(GeneratorHarness.References)
            .WithParseOptions(GeneratorHarness.ParseOptions)
            .WithCompilationOptions(GeneratorHarness.CompilationOptions);
        var document = project.AddDocument("User.cs", Usings + source);

        var diagnostics = await DiagnoseAsync(document);
        return (document, single ? Assert.Single(diagnostics, d => d.Id == id) : diagnostics.First(d => d.Id == id));
    }

    /// <summary>
    /// Our diagnostics on the document, as an editor lists them: the generator's errors (whose locations name the file
    /// by path, mapped here onto the document's tree as the IDE does) and the analyzer's.
    /// </summary>
    private static async Task<IReadOnlyList<Diagnostic>> DiagnoseAsync(Document document)
    {
        var compilation = (await document.Project.GetCompilationAsync())!;
        var tree = (await document.GetSyntaxTreeAsync())!;
        GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var generatorDiagnostics);
        var analyzerDiagnostics = await generated.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new LockedMethodAnalyzer())).GetAnalyzerDiagnosticsAsync();
        return [
            .. generatorDiagnostics.Select(d => Diagnostic.Create(d.Descriptor, Location.Create(tree, d.Location.SourceSpan), d.Properties)),
            .. analyzerDiagnostics,
        ];
    }

    [Fact]
    public Task CLA017_adds_a_token_to_the_leader_and_to_its_body() => AssertFix(new LeaderShapeCodeFix(), "CLA017", """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial Task LeadAsync();

            private Task LeadCoreAsync(ConsulLockContext term) => Task.CompletedTask;
        }
        """, """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial Task LeadAsync(CancellationToken cancellationToken);

            private Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task CLA018_makes_the_leader_and_its_body_return_Task() => AssertFix(new LeaderShapeCodeFix(), "CLA018", """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial ValueTask LeadAsync(CancellationToken cancellationToken);

            private async ValueTask LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => await Task.Yield();
        }
        """, """
        public partial class Scheduler
        {
            [ConsulLeader("leaders/scheduler")]
            public partial Task LeadAsync(CancellationToken cancellationToken);

            private async Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => await Task.Yield();
        }
        """);

    private static async Task AssertFix(CodeFixProvider fix, string id, string before, string after)
    {
        using var workspace = new AdhocWorkspace();
        var (document, diagnostic) = await DiagnosedAsync(workspace, id, before);

        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        var action = Assert.Single(actions);
        var operations = await action.GetOperationsAsync(CancellationToken.None);
        var changed = Assert.Single(operations.OfType<ApplyChangesOperation>()).ChangedSolution.GetDocument(document.Id)!;
        await AssertFixedAsync(changed, after);
    }

    /// <summary>Fix All in the document, as an editor's "fix all occurrences" runs it.</summary>
    private static async Task AssertFixAll(CodeFixProvider fix, string id, string before, string after)
    {
        using var workspace = new AdhocWorkspace();
        var (document, _) = await DiagnosedAsync(workspace, id, before, single: false);
        var diagnostics = (await DiagnoseAsync(document)).Where(d => d.Id == id).ToImmutableArray();
        Assert.True(diagnostics.Length >= 2, $"expected several {id}");

        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostics[0], (action, _) => actions.Add(action), CancellationToken.None));
        var equivalenceKey = Assert.Single(actions).EquivalenceKey;
        var fixAll = fix.GetFixAllProvider()!;
        var context = new FixAllContext(document, fix, FixAllScope.Document, equivalenceKey, [id], new FixedDiagnostics(diagnostics), CancellationToken.None);
        var action = (await fixAll.GetFixAsync(context))!;
        var operations = await action.GetOperationsAsync(CancellationToken.None);
        var changed = Assert.Single(operations.OfType<ApplyChangesOperation>()).ChangedSolution.GetDocument(document.Id)!;
        await AssertFixedAsync(changed, after);
    }

    /// <summary>The fixed text is as expected, and it builds: no error from the generator or the compiler.</summary>
    private static async Task AssertFixedAsync(Document changed, string after)
    {
        changed = await Formatter.FormatAsync(changed, Formatter.Annotation);
        var text = (await changed.GetTextAsync()).ToString();
        Assert.Equal((Usings + after).ReplaceLineEndings("\n"), text.ReplaceLineEndings("\n"));

        var build = CompiledCode.Build(after);
        var errors = build.Generator.Concat(build.Compiler).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "the fixed code does not build:\n" + string.Join("\n", errors));
    }

    private sealed class FixedDiagnostics(ImmutableArray<Diagnostic> diagnostics) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>([]);
    }
}
