using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>
/// Each diagnostic in three contexts (an instance method of a class with a primary-constructor provider, a static
/// method of a static class in the global namespace, an instance method of a record struct nested in a generic class
/// under a file-scoped namespace): it is reported with its id, an error as an error, and the compiler adds nothing
/// beside it. Each context also holds a valid locked method, which must keep compiling next to the mistake.
/// </summary>
public sealed class MisuseMatrixTests
{
    /// <summary>The mistakes, written once for all contexts: S is 'static ' in the static context.</summary>
    public static readonly TheoryData<string, string> Misuses = new()
    {
        { "CLA001", """[ConsulLocked("jobs/{id}")] public S Task RunAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA001", """[ConsulLocked("jobs/{id}")] public S partial Task RunAsync(int id, CancellationToken ct); public S partial Task RunAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA003", """[ConsulLocked("jobs/{job}")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA004", """[ConsulLocked("jobs//{id}")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA005", """[ConsulLocked("jobs/{id}")] public S partial int Run(int id); private S int RunCore(int id) => id;""" },
        { "CLA006", """[ConsulLocked("jobs/{id}")] public S partial Task<int> RunAsync(int id, CancellationToken ct); private S Task<int> RunAsyncCore(int id, CancellationToken ct) => Task.FromResult(id);""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", SessionTtl = "5s")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", MinHold = "25h")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", MinHold = "ten minutes")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", MaxHold = "500ms")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", MaxHold = "25h")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulLocked("jobs/{id}", MaxHold = "1h30")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA008", """[ConsulLocked("jobs/{id}")] public S partial Task RunAsync(int id, ref int count, CancellationToken ct); private S Task RunCoreAsync(int id, ref int count, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA009", """[ConsulLocked("jobs/{id}")] public S partial Task RunAsync(int id); private S Task RunCoreAsync(int id) => Task.CompletedTask;""" },
        { "CLA010", """[ConsulLocked("jobs/{payload}")] public S partial Task RunAsync(object payload, CancellationToken ct); private S Task RunCoreAsync(object payload, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA011", """[ConsulLocked("jobs/{id}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)] public S partial Task<int> RunAsync(int id, CancellationToken ct); private S Task<int> RunCoreAsync(int id, CancellationToken ct) => Task.FromResult(id);""" },
        { "CLA012", """[ConsulLocked("jobs/{id}")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask; public S Task SneakAsync() => RunCoreAsync(1, default);""" },
        { "CLA013", """public S Task HookAsync(string id) { return HandleAsync(id); [ConsulLocked("hook/{id}")] static Task HandleAsync(string id) => Task.CompletedTask; }""" },
        { "CLA013", """public interface IJob { [ConsulLocked("jobs/{id}")] Task RunAsync(int id, CancellationToken ct); }""" },
        { "CLA014", """[ConsulLocked("jobs/{id:yyyy}")] public S partial Task RunAsync(string id, CancellationToken ct); private S Task RunCoreAsync(string id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA015", """[ConsulLocked("jobs/{id}")] public S partial Task RunAsync(IConsulLockProvider a, IConsulLockProvider b, int id, CancellationToken ct); private S Task RunCoreAsync(IConsulLockProvider a, IConsulLockProvider b, int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA016", """[ConsulLocked("jobs/{id}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, MinHold = "10m", MaxHold = "5m")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA016", """[ConsulLocked("jobs/{id}", MinHold = "24h", MaxHold = "23h59m59s")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA020", """[ConsulSemaphore("exports/{id}")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA020", """[ConsulSemaphore("exports/{id}", Limit = -1, WaitTimeout = "1s")] public S partial Task<int> RunAsync(int id, CancellationToken ct); private S Task<int> RunCoreAsync(int id, CancellationToken ct) => Task.FromResult(id);""" },
        { "CLA021", """[ConsulSemaphore("exports/{id}", Limit = 2)][ConsulLocked("jobs/{id}")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA003", """[ConsulSemaphore("exports/{tenant}", Limit = 2)] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
        { "CLA007", """[ConsulSemaphore("exports/{id}", Limit = 2, WaitTimeout = "soon")] public S partial Task RunAsync(int id, CancellationToken ct); private S Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""" },
    };

    private static readonly (string Name, string Static, string Template)[] s_contexts =
    [
        ("instance method, primary-constructor provider", "", """
            namespace Misuse
            {
                public partial class Jobs(IConsulLockProvider locks)
                {
                    [ConsulLocked("ok/{id}")] public partial Task OkAsync(int id, CancellationToken ct);
                    private Task OkCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
                    MEMBERS
                }
            }
            """),
        ("static method of a static class, global namespace", "static ", """
            public static partial class Jobs
            {
                [ConsulLocked("ok/{id}")] public static partial Task OkAsync(int id, CancellationToken ct);
                private static Task OkCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
                MEMBERS
            }
            """),
        ("record struct nested in a generic class, file-scoped namespace", "", """
            namespace Misuse;

            public partial class Outer<TOuter>
            {
                public partial record struct Jobs(IConsulLockProvider Locks)
                {
                    [ConsulLocked("ok/{id}")] public partial Task OkAsync(int id, CancellationToken ct);
                    private Task OkCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
                    MEMBERS
                }
            }
            """),
    ];

    [Theory]
    [MemberData(nameof(Misuses))]
    public async Task Each_mistake_is_reported_alone_in_every_context(string id, string members)
    {
        foreach (var (name, isStatic, template) in s_contexts)
        {
            var source = template.Replace("MEMBERS", members.Replace(" S ", " " + isStatic, StringComparison.Ordinal), StringComparison.Ordinal);
            var ours = await GeneratorHarness.AnalyzeAsync(GeneratorHarness.Usings + source);
            var build = CompiledCode.Build(source);

            var reported = ours.Where(d => d.Id == id).ToList();
            Assert.True(reported.Count > 0, $"{id} not reported in the context '{name}':\n{string.Join("\n", ours)}");
            Assert.All(reported, d => Assert.Equal(id is "CLA009" or "CLA010" or "CLA011" ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error, d.Severity));
            Assert.True(ours.All(d => d.Id == id), $"in the context '{name}', besides {id}:\n{string.Join("\n", ours)}");
            Assert.True(build.Compiler.Count == 0, $"in the context '{name}', the compiler adds to {id}:\n{string.Join("\n", build.Compiler)}\n{build.Generated}");
        }
    }

    /// <summary>
    /// CLA002, the one id the compiler always joins: a partial method in a type that cannot be reopened has no
    /// implementation, which C# reports itself (CS8795 or CS0751). Our error must be there, from the generator.
    /// </summary>
    [Theory]
    [InlineData("public class Outer { public partial class Jobs { MEMBERS } }")]
    [InlineData("namespace N; public partial class Outer { public struct Jobs { MEMBERS } }")]
    [InlineData("public static class Outer<T> { public static partial class Jobs { MEMBERS } }")]
    public void A_type_that_is_not_partial_is_reported_by_the_generator_in_every_context(string template)
    {
        var members = """[ConsulLocked("jobs/{id}")] public static partial Task RunAsync(int id, CancellationToken ct); private static Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;""";
        var build = CompiledCode.Build(template.Replace("MEMBERS", members, StringComparison.Ordinal));

        Assert.Contains(build.Generator, d => d.Id == "CLA002" && d.Severity == DiagnosticSeverity.Error);
        Assert.All(build.Compiler, d => Assert.Contains(d.Id, new[] { "CS8795", "CS0751" }));
    }
}
