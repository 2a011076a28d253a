using ConsulLock.Aop.Generators.Tests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Tests.Infrastructure;

/// <summary>Builds user code with the generator and loads it, so tests can run what the generator wrote.</summary>
internal static class CompiledCode
{
    /// <summary>
    /// Compiles <paramref name="source"/> (after the usual usings) and runs the generator on it: what the generator
    /// reported, what the compiler then reports (warnings included), the generated text, and the final compilation.
    /// </summary>
    public static BuiltCode Build(string source, CSharpCompilationOptionsEdit? edit = null)
    {
        Compilation compilation = GeneratorHarness.Compile(GeneratorHarness.Usings + source);
        if (edit is not null)
        {
            compilation = compilation.WithOptions(edit(compilation.Options));
        }

        GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var generated = string.Join("\n", output.SyntaxTrees.Skip(compilation.SyntaxTrees.Count(_ => true)).Select(t => t.ToString()));
        var compiler = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        return new BuiltCode(generatorDiagnostics, compiler, generated, output);
    }

    /// <summary>Emits <paramref name="compilation"/> and loads it beside the test's own ConsulLock.Aop, so types are shared.</summary>
    public static System.Reflection.Assembly Load(Compilation compilation)
    {
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10)));
        return System.Reflection.Assembly.Load(image.ToArray());
    }
}

/// <summary>What <see cref="CompiledCode.Build"/> found.</summary>
internal sealed record BuiltCode(IReadOnlyList<Diagnostic> Generator, IReadOnlyList<Diagnostic> Compiler, string Generated, Compilation Output)
{
    /// <summary>Nothing from the generator or the compiler, not even a warning.</summary>
    public void AssertClean() =>
        Assert.True(Generator.Count == 0 && Compiler.Count == 0, string.Join("\n", Generator.Concat(Compiler)) + "\n" + Generated);

    /// <summary>One diagnostic, ours, whose message says <paramref name="messagePart"/>; nothing from the compiler.</summary>
    public Diagnostic AssertOnly(string id, string messagePart)
    {
        var diagnostic = Assert.Single(Generator);
        Assert.Equal(id, diagnostic.Id);
        Assert.Contains(messagePart, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.True(Compiler.Count == 0, string.Join("\n", Compiler));
        return diagnostic;
    }
}

/// <summary>A change to the compilation options, such as a lowered severity.</summary>
internal delegate CompilationOptions CSharpCompilationOptionsEdit(CompilationOptions options);
