using System.Collections.Immutable;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace ConsulLock.Aop.Generators.Tests.Infrastructure;

/// <summary>Compiles C# in memory against the runtime library and runs the generator and the analyzer on it.</summary>
internal static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return [
            .. platform.Select(path => MetadataReference.CreateFromFile(path)),
            MetadataReference.CreateFromFile(typeof(ConsulLockedAttribute).Assembly.Location),
        ];
    });

    /// <summary>What test sources put before their declarations.</summary>
    public const string Usings = """
        using System.Threading;
        using System.Threading.Tasks;
        using ConsulLock.Aop;

        """;

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.CSharp13);

    /// <summary>As in a user's project: a library with nullable enabled.</summary>
    public static CSharpCompilationOptions CompilationOptions { get; } = new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);

    /// <summary>The platform's assemblies and the ConsulLock.Aop runtime.</summary>
    public static ImmutableArray<MetadataReference> References => s_references.Value;

    public static CSharpCompilation Compile(params string[] sources) => CSharpCompilation.Create(
        "UserCode",
        sources.Select((source, i) => CSharpSyntaxTree.ParseText(source, ParseOptions, path: $"User{i}.cs")),
        References,
        CompilationOptions);

    public static GeneratorDriver Driver(bool trackSteps = false) => CSharpGeneratorDriver.Create(
        [new LockedMethodGenerator().AsSourceGenerator()],
        parseOptions: ParseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator; returns its sources and the compiler's diagnostics on the result (warnings included).</summary>
    public static GeneratorOutput Generate(params string[] sources)
    {
        var compilation = Compile(sources);
        Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var generated = output.SyntaxTrees.Skip(compilation.SyntaxTrees.Length)
            .ToDictionary(tree => Path.GetFileName(tree.FilePath), tree => tree.ToString());
        var compilerDiagnostics = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        return new GeneratorOutput(generated, generatorDiagnostics, compilerDiagnostics, output);
    }

    /// <summary>
    /// What a build reports as ours: the generator's diagnostics (the errors) and the analyzer's (warnings, CLA012) on
    /// the sources plus what the generator makes of them.
    /// </summary>
    public static async Task<IReadOnlyList<Diagnostic>> AnalyzeAsync(params string[] sources)
    {
        var compilation = Compile(sources);
        Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        Exception? failure = null;
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions([]), (exception, _, _) => failure ??= exception, concurrentAnalysis: true, logAnalyzerExecutionTime: false);
        var withAnalyzer = output.WithAnalyzers([new LockedMethodAnalyzer()], options);
        var diagnostics = await withAnalyzer.GetAnalyzerDiagnosticsAsync();
        if (failure is not null)
        {
            throw new InvalidOperationException("The analyzer threw.", failure);
        }

        return [.. generatorDiagnostics.Concat(diagnostics).OrderBy(d => d.Location.SourceSpan.Start)];
    }
}

/// <param name="GeneratorDiagnostics">What the generator reported: our errors.</param>
/// <param name="CompilerDiagnostics">The compiler's errors and warnings on the sources plus the generated code.</param>
internal sealed record GeneratorOutput(
    IReadOnlyDictionary<string, string> Sources, IReadOnlyList<Diagnostic> GeneratorDiagnostics, IReadOnlyList<Diagnostic> CompilerDiagnostics, Compilation Compilation)
{
    /// <summary>Everything a build would print: the generator's diagnostics and the compiler's.</summary>
    public IReadOnlyList<Diagnostic> Diagnostics => [.. GeneratorDiagnostics, .. CompilerDiagnostics];

    public string Single => Assert.Single(Sources).Value;
}
