using System.Collections.Immutable;
using System.Diagnostics;
using System.Reflection;
using ConsulLock.Aop.Generators.Diagnostics;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using ConsulLock.Aop.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>
/// Every valid declaration compiles with no diagnostic at all (nullable on; any warning would fail a warnings-as-errors
/// build), from the generator, the analyzer or the compiler; and a sample of them, run against the in-memory provider,
/// locks exactly the key its template describes. Compiled in batches, one compilation holding many declarations.
/// </summary>
public sealed class DeclarationMatrixTests(ITestOutputHelper output)
{
    private const int Rounds = 3;
    private const int BatchSize = 440;
    private const int SampleEvery = 9;

    [Fact]
    public async Task Every_valid_declaration_compiles_with_no_diagnostic_and_a_sample_locks_the_exact_key()
    {
        var declarations = DeclarationMatrix.All(Rounds).ToList();
        Assert.True(declarations.Count >= 2000, $"only {declarations.Count} declarations");
        AssertEveryPairOfContainerAndProviderMeets(declarations);

        var clock = Stopwatch.StartNew();
        var compiling = TimeSpan.Zero;
        var ran = 0;
        foreach (var batch in declarations.Chunk(BatchSize))
        {
            var started = clock.Elapsed;
            var compiled = await CompileAsync(batch);
            compiling += clock.Elapsed - started;
            ran += await RunSampleAsync(compiled, batch.Where(d => d.N % SampleEvery == 0 && d.Provider != ProviderKind.Default));
        }

        output.WriteLine($"{declarations.Count} declarations in {(declarations.Count + BatchSize - 1) / BatchSize} compilations, {ran} of them run: {clock.Elapsed.TotalSeconds:F1} s ({compiling.TotalSeconds:F1} s generating, compiling and analysing)");
        Assert.True(ran >= 200, $"only {ran} declarations ran");
    }

    private static void AssertEveryPairOfContainerAndProviderMeets(List<Declaration> declarations)
    {
        foreach (var container in DeclarationMatrix.Containers)
        {
            foreach (var provider in DeclarationMatrix.Providers)
            {
                Assert.Contains(declarations, d => d.Container == container && d.RequestedProvider == provider);
            }
        }
    }

    private static async Task<Compilation> CompileAsync(Declaration[] batch)
    {
        var trees = batch.Select(d => CSharpSyntaxTree.ParseText(d.Source(), GeneratorHarness.ParseOptions, path: $"D{d.N}.cs"))
            .Prepend(CSharpSyntaxTree.ParseText(DeclarationMatrix.SharedSource, GeneratorHarness.ParseOptions, path: "Shared.cs"));
        var compilation = CSharpCompilation.Create("Matrix" + batch[0].N, trees, GeneratorHarness.References, GeneratorHarness.CompilationOptions);
        GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var generatorDiagnostics);

        var all = await generated.WithAnalyzers([new LockedMethodAnalyzer()]).GetAllDiagnosticsAsync();
        var problems = generatorDiagnostics.Concat(all).Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        if (problems.Count > 0)
        {
            var first = problems[0];
            var file = first.Location.SourceTree?.FilePath ?? first.Location.GetLineSpan().Path;
            var source = batch.FirstOrDefault(d => file.EndsWith($"D{d.N}.cs", StringComparison.Ordinal))?.Source()
                ?? generated.SyntaxTrees.FirstOrDefault(t => t.FilePath == file)?.ToString();
            Assert.Fail($"{problems.Count} diagnostics, the first:\n{first}\n{source}\n{string.Join("\n", problems.Skip(1).Take(9))}");
        }

        Assert.Equal(batch.Length, generated.SyntaxTrees.Count(t => t.FilePath.EndsWith(".ConsulLocked.g.cs", StringComparison.Ordinal)));
        return generated;
    }

    private static async Task<int> RunSampleAsync(Compilation compilation, IEnumerable<Declaration> sample)
    {
        var assembly = CompiledCode.Load(compilation);
        var probe = assembly.GetType("Probe")!;
        var ran = 0;
        foreach (var declaration in sample)
        {
            var locks = new InMemoryConsulLockProvider();
            probe.GetProperty("Provider")!.SetValue(null, locks);
            probe.GetProperty("HeldDuringBody")!.SetValue(null, null);

            var type = assembly.GetType(declaration.MetadataName, throwOnError: true)!;
            if (type.IsGenericTypeDefinition)
            {
                type = type.MakeGenericType(typeof(string));
            }

            if (declaration.Provider == ProviderKind.StaticMember)
            {
                type.GetProperty("SharedLocks")!.SetValue(null, locks);
            }

            var instance = declaration.Method == MethodKind.Static ? null
                : declaration.Provider is ProviderKind.Field or ProviderKind.Property or ProviderKind.PrimaryConstructor ? Activator.CreateInstance(type, locks)
                : Activator.CreateInstance(type);
            var method = type.GetMethod("RunAsync", BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)!;
            if (method.IsGenericMethodDefinition)
            {
                method = method.MakeGenericMethod(declaration.MethodTypeArguments);
            }

            var result = method.Invoke(instance, BindingFlags.DoNotWrapExceptions, null, Arguments(declaration, assembly, locks), null);
            await AsTask(result!).WaitAsync(TimeSpan.FromSeconds(10));

            Assert.True(
                declaration.KeyPrefix + declaration.Arguments.Key == (string?)probe.GetProperty("HeldDuringBody")!.GetValue(null),
                $"declaration {declaration.N} held '{probe.GetProperty("HeldDuringBody")!.GetValue(null)}', not '{declaration.KeyPrefix + declaration.Arguments.Key}':\n{declaration.Source()}");
            Assert.Empty(locks.HeldKeys);
            ran++;
        }

        return ran;
    }

    private static object?[] Arguments(Declaration declaration, Assembly assembly, InMemoryConsulLockProvider locks)
    {
        var values = declaration.Placeholder switch
        {
            PlaceholderKind.MemberPathAndPlain => [Activator.CreateInstance(assembly.GetType("Order")!, Activator.CreateInstance(assembly.GetType("Customer")!, 7)), "a/b"],
            PlaceholderKind.Enum => [Enum.Parse(assembly.GetType("Color")!, "Green")],
            _ => declaration.Arguments.Values,
        };
        return [
            .. declaration.Provider == ProviderKind.Parameter ? [locks] : Array.Empty<object?>(),
            .. values,
            .. declaration.HasTokenParameter ? [CancellationToken.None] : Array.Empty<object?>(),
        ];
    }

    private static Task AsTask(object result) => result switch
    {
        Task task => task,
        ValueTask valueTask => valueTask.AsTask(),
        _ => (Task)result.GetType().GetMethod("AsTask")!.Invoke(result, null)!,
    };
}
