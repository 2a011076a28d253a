using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>Runs a built sample as a process and returns its exit code and output.</summary>
internal static class SampleProcess
{
    public static string PathOf(string project, string assembly) => BuildOutput.PathOf(Path.Combine("samples", project), assembly);

    /// <summary>
    /// Runs <paramref name="dll"/> from its own folder, as its content root: each sample reads the appsettings.json
    /// beside it (the test's own folder holds a copy from every referenced sample, the last one built winning).
    /// </summary>
    public static Task<(int ExitCode, string Output)> RunAsync(string dll, string[] arguments, TimeSpan limit, params (string Name, string? Value)[] environment) =>
        ChildProcess.RunAsync("dotnet", [dll, .. arguments], limit, Path.GetDirectoryName(dll), environment);
}
