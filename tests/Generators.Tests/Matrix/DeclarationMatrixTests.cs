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

    /// <summary>
    /// The name-collision axis (issue 19): each name the generated code uses, given to a parameter (and the provider),
    /// a member, a type, a type parameter and a namespace of the user's, compiles with no diagnostic and, run, locks the
    /// key its template describes with the provider the declaration names. The names come from the generated code:
    /// first the snapshots' and a slice of the matrix's, then each round's own (a collision can make the generator
    /// rename a local or add a member), until a round finds no new name.
    /// </summary>
    [Fact]
    public async Task Names_the_generated_code_uses_given_to_the_users_code_change_nothing()
    {
        var clock = Stopwatch.StartNew();
        var known = new HashSet<string>(NameCollisionAxis.Extras, StringComparer.Ordinal);
        known.UnionWith(Directory.GetFiles(Snapshotting.Snapshot.Folder, "*.verified.cs")
            .SelectMany(file => NameCollisionAxis.RuntimeAndLocalNamesIn(CSharpSyntaxTree.ParseText(File.ReadAllText(file)))));
        known.UnionWith(NameCollisionAxis.IdentifiersIn(Generate(DeclarationMatrix.All(1).Where(d => d.N % 5 == 0))));

        var fresh = known.ToList();
        var all = new List<Declaration>();
        var relays = (Property: 0, Initializer: 0);
        var ran = 0;
        for (var round = 1; fresh.Count > 0; round++)
        {
            Assert.True(round <= 3, $"round {round} still finds new names: {string.Join(", ", fresh)}");
            var declarations = NameCollisionAxis.Declarations(fresh, 100_000 * round).ToList();
            all.AddRange(declarations);
            var generated = new List<SyntaxTree>();

            // One compilation per role: a global type and a global namespace of the same name would collide.
            foreach (var batch in declarations.GroupBy(d => d.Collision!.Role).SelectMany(role => role.Chunk(BatchSize)))
            {
                var compiled = await CompileAsync(batch);
                generated.AddRange(compiled.SyntaxTrees.Where(t => t.FilePath.EndsWith(".ConsulLocked.g.cs", StringComparison.Ordinal)));
                ran += await RunSampleAsync(compiled, batch.Where(d => d.Provider != ProviderKind.Default));
            }

            fresh = [.. NameCollisionAxis.IdentifiersIn(generated).Distinct().Where(known.Add)];
            var texts = generated.Select(t => t.ToString()).ToList();
            relays.Property += texts.Count(t => t.Contains("LockProvider => ", StringComparison.Ordinal));
            relays.Initializer += texts.Count(t => t.Contains("LockProvider = ", StringComparison.Ordinal));
            output.WriteLine($"round {round}: {declarations.Count} declarations ({NameCollisionAxis.Counts(declarations)}); new names: {string.Join(", ", fresh)}");
        }

        output.WriteLine($"{known.Count} names, {all.Count} declarations, {ran} of them run: {clock.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"primary-constructor providers read through a property {relays.Property} times, through a field initializer {relays.Initializer} times");
        output.WriteLine("names: " + string.Join(", ", known.Order(StringComparer.Ordinal)));
        foreach (var role in Enum.GetValues<NameRole>())
        {
            // What C# itself forbids in that role in every shape tried (a type named in lower case, a second 'id' parameter).
            var left = known.Where(name => !all.Any(d => d.Collision!.Name == name && d.Collision.Role == role)).Order(StringComparer.Ordinal);
            output.WriteLine($"not as {role}: {string.Join(", ", left)}");
        }

        foreach (var role in Enum.GetValues<NameRole>())
        {
            Assert.All(DeclarationMatrix.Providers, p => Assert.Contains(all, d => d.Collision!.Role == role && d.Provider == p));
            Assert.All(DeclarationMatrix.Containers, c => Assert.Contains(all, d => d.Collision!.Role == role && d.Container == c));
        }

        // Both ways a primary-constructor parameter gets hidden: by a parameter of the method, by a member of the type.
        Assert.True(relays.Property > 0 && relays.Initializer > 0, $"relays: {relays}");

        // The names the issue and the contract name, each in every role.
        foreach (var name in new[] { "provider", "lockKey", "lockContext", "Task", "ValueTask", "CancellationToken", "ConsulLock", "System", "IConsulLockProvider" })
        {
            Assert.All(Enum.GetValues<NameRole>().Where(r => r != NameRole.Type || char.IsUpper(name[0])), role => Assert.Contains(all, d => d.Collision!.Name == name && d.Collision.Role == role));
        }
    }

    /// <summary>The generator's output for <paramref name="declarations"/>, without compiling it further.</summary>
    private static ImmutableArray<SyntaxTree> Generate(IEnumerable<Declaration> declarations)
    {
        var trees = declarations.Select(d => CSharpSyntaxTree.ParseText(d.Source(), GeneratorHarness.ParseOptions, path: $"D{d.N}.cs"))
            .Prepend(CSharpSyntaxTree.ParseText(DeclarationMatrix.SharedSource, GeneratorHarness.ParseOptions, path: "Shared.cs"));
        var compilation = CSharpCompilation.Create("Names", trees, GeneratorHarness.References, GeneratorHarness.CompilationOptions);
        return GeneratorHarness.Driver().RunGenerators(compilation).GetRunResult().GeneratedTrees;
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
                type.GetProperty(declaration.ProviderName!)!.SetValue(null, locks);
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
                declaration.ExpectedKey == (string?)probe.GetProperty("HeldDuringBody")!.GetValue(null),
                $"declaration {declaration.N} held '{probe.GetProperty("HeldDuringBody")!.GetValue(null)}', not '{declaration.ExpectedKey}':\n{declaration.Source()}");
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
            .. declaration.NamedParameter is null ? Array.Empty<object?>() : [Declaration.NamedParameterValue],
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
