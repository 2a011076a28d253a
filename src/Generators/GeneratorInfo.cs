namespace ConsulLock.Aop.Generators;

internal static class GeneratorInfo
{
    public const string AssemblyName = "ConsulLock.Aop.Generators";

    /// <summary>Written into <c>[GeneratedCode]</c>; kept constant so generated files do not change with every build.</summary>
    public const string Version = "0.1.0";

    /// <summary>
    /// Where the diagnostics are explained (each id has a page there). Keep in step with the package's repository URL.
    /// </summary>
    public const string DiagnosticsHelpBase = "https://github.com/consullock/ConsulLock.Aop/blob/main/docs/diagnostics/";
}
