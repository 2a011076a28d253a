using System.Diagnostics;
using System.Text;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// What the generator costs a large project: 1,000 annotated methods in 100 types. The time is reported (and
/// recorded in docs/performance.md), not asserted; the test asserts that everything was generated and compiles.
/// </summary>
public sealed class GeneratorCostTests(ITestOutputHelper output)
{
    [Fact]
    public void A_thousand_annotated_methods_are_generated_and_compile()
    {
        var source = new StringBuilder("using System.Threading;\nusing System.Threading.Tasks;\nusing ConsulLock.Aop;\nnamespace Big;\n");
        for (var type = 0; type < 100; type++)
        {
            source.Append("public partial class Handlers").Append(type).Append("(IConsulLockProvider locks)\n{\n");
            for (var method = 0; method < 10; method++)
            {
                var name = $"Handle{method}Async";
                source.Append(System.Globalization.CultureInfo.InvariantCulture, $"    [ConsulLocked(\"handlers/{type}/{{id}}/{{tenant}}\", WaitTimeout = \"5s\")]\n")
                    .Append(System.Globalization.CultureInfo.InvariantCulture, $"    public partial Task<int> {name}(int id, string tenant, CancellationToken cancellationToken);\n")
                    .Append(System.Globalization.CultureInfo.InvariantCulture, $"    private Task<int> Handle{method}CoreAsync(int id, string tenant, CancellationToken cancellationToken) => Task.FromResult(id);\n");
            }

            source.Append("}\n");
        }

        var compilation = GeneratorHarness.Compile(source.ToString());
        _ = compilation.GetDiagnostics(); // bind once, so the timing is the generator's, not the first binding's

        var cold = Stopwatch.StartNew();
        var driver = GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var diagnostics);
        cold.Stop();

        var warm = Stopwatch.StartNew();
        driver.RunGenerators(compilation.Clone());
        warm.Stop();

        output.WriteLine($"1,000 methods in 100 types: first run {cold.ElapsedMilliseconds} ms (bound compilation); re-run on a cloned compilation, which binds again, {warm.ElapsedMilliseconds} ms");
        Assert.Empty(diagnostics);
        Assert.Equal(100, generated.SyntaxTrees.Count() - 1);
        var errors = generated.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(5)));
    }
}
