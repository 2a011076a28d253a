using System.Diagnostics;

namespace ConsulLock.Aop.TestSupport;

/// <summary>Finds the consul binary: <c>CONSUL_BIN</c>, else what <c>eng/ensure-consul.sh</c> provides.</summary>
public static class ConsulBinary
{
    private static readonly Lazy<string> s_path = new(Locate, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path => s_path.Value;

    /// <summary>The repository root: the folder above the test binaries that holds ConsulLock.Aop.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "ConsulLock.Aop.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"No ConsulLock.Aop.sln above {AppContext.BaseDirectory}.");
        }
    }

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("CONSUL_BIN");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        var script = System.IO.Path.Combine(RepositoryRoot, "eng", "ensure-consul.sh");
        var start = new ProcessStartInfo("bash", [script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"eng/ensure-consul.sh failed ({process.ExitCode}): {stderr.Result}");
        }

        return stdout.Trim();
    }
}
