namespace ConsulLock.Aop.TestSupport;

/// <summary>Where the other projects of this repository were built, for tests that run them as processes.</summary>
public static class BuildOutput
{
    /// <summary>The configuration the running tests were built in, read from their own output folder (bin/&lt;Configuration&gt;/&lt;tfm&gt;/).</summary>
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>The built <paramref name="assembly"/>.dll of the project in <paramref name="projectFolder"/> (relative to the repository root).</summary>
    public static string PathOf(string projectFolder, string assembly)
    {
        var path = Path.Combine(ConsulBinary.RepositoryRoot, projectFolder, "bin", Configuration, "net10.0", assembly + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{projectFolder} was not built at {path}; build the solution first.", path);
    }
}
