using System.Collections.Immutable;
using System.Diagnostics;
using System.Reflection;
using ConsulLock.Aop.Generators.Diagnostics;
using ConsulLock.Aop.Generators.Tests.Infrastructure;
using ConsulLock.Aop.CompilerServices;
using ConsulLock.Aop.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Generators.Tests.Matrix;

/// <summary>
/// Every valid declaration compiles with no diagnostic at all (nullable on; any warning would fail a warnings-as-errors
/// build), from the generator, the analyzer or the compiler; each carries its holds into its lock request; and a sample
/// of them, run against the in-memory provider on a fake clock (through the interface member it implements, if any),
/// locks exactly the key its template describes and holds it as its <c>MinHold</c> and <c>MaxHold</c> say. Compiled in
/// batches, one compilation holding many declarations.
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
        AssertEveryPairOfValuesMeets([.. declarations.Where(d => !d.Leader)]);
        AssertEveryLeaderValueMeets([.. declarations.Where(d => d.Leader)]);

        var clock = Stopwatch.StartNew();
        var compiling = TimeSpan.Zero;
        var ran = new List<Run>();
        foreach (var batch in declarations.Chunk(BatchSize))
        {
            var started = clock.Elapsed;
            var compiled = await CompileAsync(batch);
            compiling += clock.Elapsed - started;

            // Sampled at a residue that moves (N = 9q + q % 9), so that the sample meets every container: at a fixed
            // residue it would meet one container per round, the container axis having the sample's period.
            ran.AddRange(await RunSampleAsync(compiled, batch, batch.Where(d => d.N % SampleEvery == d.N / SampleEvery % SampleEvery && d.Provider != ProviderKind.Default)));
        }

        output.WriteLine($"{declarations.Count} declarations in {(declarations.Count + BatchSize - 1) / BatchSize} compilations, {ran.Count} of them run: {clock.Elapsed.TotalSeconds:F1} s ({compiling.TotalSeconds:F1} s generating, compiling and analysing)");
        output.WriteLine($"run: {ran.Count(r => r.MinHoldKept)} kept for their MinHold after the body, {ran.Count(r => r.HoldLimitReached)} stopped at their MaxHold, "
            + $"{ran.Count(r => r.Declaration.Interface != InterfaceShape.None)} called through an interface member ({ran.Count(r => r.Declaration.Interface != InterfaceShape.None && r.Declaration.Method == MethodKind.Static)} static abstract)");
        Assert.True(ran.Count >= 200, $"only {ran.Count} declarations ran");

        // The sample runs every value of the axes that change what happens at run time.
        Assert.All(DeclarationMatrix.HoldPairs, holds => Assert.Contains(ran, r => r.Declaration.EffectiveHolds == holds));
        Assert.All(DeclarationMatrix.Kinds, kind => Assert.All(DeclarationMatrix.Timeouts, timeout =>
            Assert.Contains(ran, r => r.Declaration.Kind == kind && r.Declaration.Timeout == timeout)));
        Assert.All(DeclarationMatrix.Interfaces, shape => Assert.Contains(ran, r => r.Declaration.Interface == shape && r.Declaration.Method != MethodKind.Static));
        Assert.All(DeclarationMatrix.Interfaces, shape => Assert.Contains(ran, r => r.Declaration.Interface == shape && r.Declaration.Method == MethodKind.Static));
        Assert.All(DeclarationMatrix.Containers, container => Assert.Contains(ran, r => r.Declaration.Container == container));
        Assert.All(DeclarationMatrix.Containers, container => Assert.Contains(ran, r => r.Declaration.Leader && r.Declaration.Container == container));
        Assert.Contains(ran, r => r.MinHoldKept);
        Assert.Contains(ran, r => r.HoldLimitReached);

        // Skip with each result that can say "skipped" (none draws CLA011), run: uncontested, the body runs.
        Assert.All(DeclarationMatrix.Timeouts.Where(t => t != TimeoutKind.Throw), timeout =>
            Assert.Contains(ran, r => r.Declaration.Timeout == timeout && r.Declaration.DeclaredReturns.Contains('<', StringComparison.Ordinal)));
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
                ran += (await RunSampleAsync(compiled, batch, batch.Where(d => d.Provider != ProviderKind.Default))).Count;
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

    /// <summary>Every value of each axis meets every value of every other axis, as requested (a static class then makes its method static, and so on).</summary>
    private static void AssertEveryPairOfValuesMeets(List<Declaration> declarations)
    {
        (string Name, object[] Values, Func<Declaration, object> Of)[] axes =
        [
            ("return", DeclarationMatrix.Returns, d => d.Returns),
            ("placeholder", [.. DeclarationMatrix.Placeholders.Cast<object>()], d => d.Placeholder),
            ("token", [.. DeclarationMatrix.Tokens.Cast<object>()], d => d.Token),
            ("method", [.. DeclarationMatrix.Methods.Cast<object>()], d => d.RequestedMethod),
            ("container", [.. DeclarationMatrix.Containers.Cast<object>()], d => d.Container),
            ("provider", [.. DeclarationMatrix.Providers.Cast<object>()], d => d.RequestedProvider),
            ("holds", DeclarationMatrix.HoldPairs, d => d.Holds!),
            ("interface", [.. DeclarationMatrix.Interfaces.Cast<object>()], d => d.RequestedInterface),
            ("timeout", [.. DeclarationMatrix.Timeouts.Cast<object>()], d => d.Timeout),
            ("attribute", [.. DeclarationMatrix.Kinds.Cast<object>()], d => d.Kind),
        ];
        var missing = new List<string>();
        for (var i = 0; i < axes.Length; i++)
        {
            for (var j = i + 1; j < axes.Length; j++)
            {
                var met = declarations.Select(d => (axes[i].Of(d), axes[j].Of(d))).ToHashSet();
                missing.AddRange(
                    from a in axes[i].Values from b in axes[j].Values where !met.Contains((a, b)) select $"{axes[i].Name} {a} with {axes[j].Name} {b}");
            }
        }

        Assert.True(missing.Count == 0, $"{missing.Count} pairs never meet: {string.Join("; ", missing.Take(20))}");

        // And as they take effect: each interface shape on each kind of method (static: a static abstract member).
        Assert.All(DeclarationMatrix.Interfaces, shape => Assert.All(DeclarationMatrix.Methods, method =>
            Assert.Contains(declarations, d => d.Interface == shape && d.Method == method)));
    }

    /// <summary>The [ConsulLeader] declarations: every value of each axis a leader can vary, and each token shape with each of them.</summary>
    private static void AssertEveryLeaderValueMeets(List<Declaration> leaders)
    {
        Assert.All(DeclarationMatrix.LeaderTokens, token =>
        {
            Assert.All(DeclarationMatrix.Placeholders, p => Assert.Contains(leaders, d => d.Token == token && d.Placeholder == p));
            Assert.All(DeclarationMatrix.Methods, m => Assert.Contains(leaders, d => d.Token == token && d.RequestedMethod == m));
            Assert.All(DeclarationMatrix.Containers, c => Assert.Contains(leaders, d => d.Token == token && d.Container == c));
            Assert.All(DeclarationMatrix.Providers, p => Assert.Contains(leaders, d => d.Token == token && d.RequestedProvider == p));
            Assert.All(DeclarationMatrix.Interfaces, i => Assert.Contains(leaders, d => d.Token == token && d.RequestedInterface == i));
        });
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

    /// <summary>One run of the sample, and what the holds made of it.</summary>
    /// <param name="MinHoldKept">The key stayed held after the body, until the clock reached grant + MinHold.</param>
    /// <param name="HoldLimitReached">The body ran until grant + MaxHold: its token fired, the caller got the loss.</param>
    private sealed record Run(Declaration Declaration, bool MinHoldKept, bool HoldLimitReached);

    /// <summary>
    /// Checks that every declaration of <paramref name="batch"/> carries its holds into its lock request, then runs
    /// <paramref name="sample"/>: each run holds exactly its key while the body runs, then either stays held until
    /// grant + <c>MinHold</c>, or (every other run with a <c>MaxHold</c>) has the body outlast its <c>MaxHold</c> on the
    /// fake clock and sees the token fire exactly there and the caller get the hold-limit loss.
    /// </summary>
    private static async Task<List<Run>> RunSampleAsync(Compilation compilation, IEnumerable<Declaration> batch, IEnumerable<Declaration> sample)
    {
        var assembly = CompiledCode.Load(compilation);
        foreach (var declaration in batch)
        {
            AssertSettingsCarryTheHolds(declaration, ClosedType(assembly, declaration));
        }

        var probe = assembly.GetType("Probe")!;
        var ran = new List<Run>();
        var tick = TimeSpan.FromTicks(1);
        foreach (var declaration in sample)
        {
            var clock = new FakeTimeProvider();
            var locks = new InMemoryConsulLockProvider(clock);
            var holds = declaration.EffectiveHolds;
            var limit = holds.MaxHold is { } maxHold && declaration.N / SampleEvery % 2 == 1 ? maxHold.Value : (TimeSpan?)null;
            probe.GetProperty("Provider")!.SetValue(null, locks);
            probe.GetProperty("HeldDuringBody")!.SetValue(null, null);
            probe.GetProperty("DuringBody")!.SetValue(null, limit is not { } hold ? null : new Action<CancellationToken>(token =>
            {
                clock.Advance(hold - tick);
                Assert.False(token.IsCancellationRequested, $"declaration {declaration.N}: the body's token fired before its MaxHold {hold}");
                clock.Advance(tick);
                Assert.True(token.IsCancellationRequested, $"declaration {declaration.N}: the body's token did not fire at its MaxHold {hold}");
            }));

            var type = ClosedType(assembly, declaration);
            if (declaration.Provider == ProviderKind.StaticMember)
            {
                type.GetProperty(declaration.ProviderName!)!.SetValue(null, locks);
            }

            var instance = declaration.Method == MethodKind.Static ? null
                : declaration.Provider is ProviderKind.Field or ProviderKind.Property or ProviderKind.PrimaryConstructor ? Activator.CreateInstance(type, locks)
                : Activator.CreateInstance(type);
            var method = Callee(type, declaration);
            if (method.IsGenericMethodDefinition)
            {
                method = method.MakeGenericMethod(declaration.MethodTypeArguments);
            }

            var result = method.Invoke(instance, BindingFlags.DoNotWrapExceptions, null, Arguments(declaration, assembly, locks), null);
            var running = AsTask(result!).WaitAsync(TimeSpan.FromSeconds(10));
            if (limit is not null)
            {
                var lost = await Assert.ThrowsAsync<ConsulLockLostException>(() => running);
                Assert.True(lost.HoldLimitReached, $"declaration {declaration.N}: the loss does not say the hold limit was reached: {lost.Message}");
            }
            else
            {
                await running;
            }

            Assert.True(
                declaration.ExpectedKey == (string?)probe.GetProperty("HeldDuringBody")!.GetValue(null),
                $"declaration {declaration.N} held '{probe.GetProperty("HeldDuringBody")!.GetValue(null)}', not '{declaration.ExpectedKey}':\n{declaration.Source()}");

            // Past its MaxHold the key is free at once (MinHold <= MaxHold); a body that ended sooner leaves it held until grant + MinHold.
            var kept = limit is null && holds.MinHold is { Value: var minHold } && minHold > TimeSpan.Zero;
            if (kept)
            {
                Assert.Equal([declaration.ExpectedKey], locks.HeldKeys);
                clock.Advance(holds.MinHold!.Value - tick);
                Assert.True(locks.IsHeld(declaration.ExpectedKey), $"declaration {declaration.N}: the key was free before its MinHold {holds.MinHold.Text}");
                clock.Advance(tick);
            }

            Assert.Empty(locks.HeldKeys);
            Assert.Empty(locks.HeldPermits);
            ran.Add(new Run(declaration, kept, limit is not null));
        }

        probe.GetProperty("DuringBody")!.SetValue(null, null);
        return ran;
    }

    /// <summary>The declaration's type, closed over <c>string</c> when it is generic.</summary>
    private static Type ClosedType(Assembly assembly, Declaration declaration)
    {
        var type = assembly.GetType(declaration.MetadataName, throwOnError: true)!;
        return type.IsGenericTypeDefinition ? type.MakeGenericType(typeof(string)) : type;
    }

    /// <summary>
    /// What the run calls: the interface member the method implements, so that the call reaches the lock the way a
    /// caller through the interface (Quartz calling <c>IJob.Execute</c>) does; the method itself when it is static (a
    /// static abstract member is called through a type parameter, which reflection has not) or implements nothing.
    /// </summary>
    private static MethodInfo Callee(Type type, Declaration declaration)
    {
        var own = type.GetMethod("RunAsync", BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)!;
        if (declaration.Interface == InterfaceShape.None)
        {
            return own;
        }

        var implemented = type.GetInterfaces().Single(i => i.Name.Split('`')[0] == declaration.InterfaceName);
        var map = type.GetInterfaceMap(implemented);
        Assert.Equal(own, Assert.Single(map.TargetMethods));
        return declaration.Method == MethodKind.Static ? own : Assert.Single(map.InterfaceMethods);
    }

    /// <summary>The generated settings of the declaration's method hold its attribute's MinHold and MaxHold (and its WaitTimeout and OnTimeout).</summary>
    private static void AssertSettingsCarryTheHolds(Declaration declaration, Type type)
    {
        var field = Assert.Single(type.GetFields(BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly), f => f.FieldType == typeof(LockedMethodSettings));
        var settings = (LockedMethodSettings)field.GetValue(null)!;
        var holds = declaration.EffectiveHolds;
        Assert.Equal(declaration.Leader ? null : TimeSpan.FromSeconds(5), settings.WaitTimeout); // a campaign waits until it leads
        Assert.Equal(declaration.Kind == AttributeKind.Semaphore ? Declaration.SemaphoreLimit : null, settings.SemaphoreLimit);
        Assert.Equal(declaration.Timeout == TimeoutKind.Throw ? LockTimeoutBehavior.Throw : LockTimeoutBehavior.Skip, settings.OnTimeout);
        Assert.True(
            settings.Request?.MinHold == holds.MinHold?.Value && settings.Request?.MaxHold == holds.MaxHold?.Value,
            $"declaration {declaration.N} ({holds}): the request has MinHold {settings.Request?.MinHold}, MaxHold {settings.Request?.MaxHold}");
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
