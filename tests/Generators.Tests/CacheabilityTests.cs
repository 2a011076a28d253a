using System.Collections;
using System.Reflection;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// The generator's steps must be cached when nothing they depend on changed, or every keystroke in an editor
/// re-emits every file; and no step may hold a compilation, symbol or syntax node, which would pin old compilations.
/// </summary>
public sealed class CacheabilityTests
{
    private const string Source = """
        using System.Threading;
        using System.Threading.Tasks;
        using ConsulLock.Aop;

        namespace Shop;

        public sealed record Customer(int Id);

        public partial class Orders(IConsulLockProvider locks)
        {
            [ConsulLocked("orders/{customer.Id}/{n}", WaitTimeout = "5s")]
            public partial Task<int> ShipAsync(Customer customer, int n, CancellationToken cancellationToken);

            private Task<int> ShipCoreAsync(Customer customer, int n, CancellationToken cancellationToken) => Task.FromResult(n);
        }

        public static partial class Migrations
        {
            [ConsulLocked("migrations/{name}")]
            public static partial ValueTask RunAsync(string name, CancellationToken cancellationToken);

            private static ValueTask RunCoreAsync(string name, CancellationToken cancellationToken) => default;
        }
        """;

    private static readonly string[] s_trackedSteps = [TrackingNames.Results, TrackingNames.Methods, TrackingNames.Types, TrackingNames.Errors];

    [Fact]
    public void A_cloned_compilation_reuses_every_step()
    {
        var compilation = GeneratorHarness.Compile(Source);
        var (first, second) = RunTwice(compilation, compilation.Clone());
        AssertCached(first, second);
    }

    [Fact]
    public void An_unrelated_edit_reuses_every_step()
    {
        var compilation = GeneratorHarness.Compile(Source);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other { internal sealed class Unrelated { } }", GeneratorHarness.ParseOptions));
        var (first, second) = RunTwice(compilation, edited);
        AssertCached(first, second);
    }

    [Fact]
    public void Changing_an_attribute_regenerates_that_method()
    {
        var compilation = GeneratorHarness.Compile(Source);
        var changed = GeneratorHarness.Compile(Source.Replace("WaitTimeout = \"5s\"", "WaitTimeout = \"6s\"", StringComparison.Ordinal));
        var (_, second) = RunTwice(compilation, changed);
        var methods = second.Results[0].TrackedSteps[TrackingNames.Methods].SelectMany(step => step.Outputs).Select(o => o.Reason).ToList();
        Assert.Contains(IncrementalStepRunReason.Modified, methods);
    }

    /// <summary>
    /// What reporting errors from the generator costs: an edit above a method with an error moves the error, so the
    /// parse step and the error output run again; the spec has no position, so nothing is emitted again.
    /// </summary>
    [Fact]
    public void An_edit_above_a_method_with_an_error_re_reports_it_but_emits_nothing_again()
    {
        var withError = Source.Replace("orders/{customer.Id}/{n}", "orders/{customer.Id}/{m}", StringComparison.Ordinal);
        var compilation = GeneratorHarness.Compile(withError);
        var edited = GeneratorHarness.Compile("// a comment that moves every line below it\n" + withError);
        var (first, second) = RunTwice(compilation, edited);

        Assert.Contains(first.Results[0].Diagnostics, d => d.Id == "CLA003");
        var moved = Assert.Single(second.Results[0].Diagnostics, d => d.Id == "CLA003");
        Assert.Equal(first.Results[0].Diagnostics.Single(d => d.Id == "CLA003").Location.GetLineSpan().StartLinePosition.Line + 1, moved.Location.GetLineSpan().StartLinePosition.Line);

        var reasons = (string name) => second.Results[0].TrackedSteps[name].SelectMany(step => step.Outputs).Select(o => o.Reason).ToList();
        Assert.Contains(IncrementalStepRunReason.Modified, reasons(TrackingNames.Results)); // the cost: parsed again, the error re-reported
        Assert.All(reasons(TrackingNames.Methods), r => Assert.True(r is IncrementalStepRunReason.Unchanged or IncrementalStepRunReason.Cached, $"Methods: {r}"));
        Assert.All(reasons(TrackingNames.Types), r => Assert.True(r is IncrementalStepRunReason.Unchanged or IncrementalStepRunReason.Cached, $"Types: {r}"));
    }

    private static (GeneratorDriverRunResult First, GeneratorDriverRunResult Second) RunTwice(Compilation first, Compilation second)
    {
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(first);
        var firstResult = driver.GetRunResult();
        Assert.Equal(2, firstResult.GeneratedTrees.Length);
        driver = driver.RunGenerators(second);
        return (firstResult, driver.GetRunResult());
    }

    private static void AssertCached(GeneratorDriverRunResult first, GeneratorDriverRunResult second)
    {
        foreach (var name in s_trackedSteps)
        {
            Assert.True(first.Results[0].TrackedSteps.TryGetValue(name, out var firstSteps), $"no step named {name}");
            foreach (var step in firstSteps)
            {
                foreach (var (value, _) in step.Outputs)
                {
                    AssertHoldsNoRoslynObjects(value, $"{name}.Output", depth: 0);
                }
            }

            foreach (var step in second.Results[0].TrackedSteps[name])
            {
                foreach (var (_, reason) in step.Outputs)
                {
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {name} ran again: {reason}");
                }
            }
        }
    }

    private static void AssertHoldsNoRoslynObjects(object? value, string path, int depth)
    {
        if (value is null || depth > 12 || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum)
        {
            return;
        }

        Assert.False(value is Compilation or ISymbol or SyntaxNode or SemanticModel or Location, $"{path} holds a {value.GetType().Name}");
        if (value is IEnumerable items)
        {
            var i = 0;
            foreach (var item in items)
            {
                AssertHoldsNoRoslynObjects(item, $"{path}[{i++}]", depth + 1);
            }

            return;
        }

        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            AssertHoldsNoRoslynObjects(field.GetValue(value), $"{path}.{field.Name}", depth + 1);
        }
    }
}
