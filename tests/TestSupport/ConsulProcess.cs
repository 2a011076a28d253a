using System.Collections.Concurrent;
using System.Diagnostics;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// One running <c>consul</c> process: its output is kept (the tail goes into start-up errors), and it is killed on
/// disposal or, as a last resort, when the test process exits. Each command line carries
/// <c>CONSULLOCK_TEST_RUN_ID</c> so that <c>eng/test.sh</c> can sweep up any agent a crashed test host left.
/// </summary>
internal sealed class ConsulProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<ConsulProcess, bool> s_running = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    static ConsulProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var running in s_running.Keys)
            {
                running.Kill();
            }
        };
    }

    private ConsulProcess(Process process) => _process = process;

    public static string RunId => Environment.GetEnvironmentVariable("CONSULLOCK_TEST_RUN_ID") is { Length: > 0 } id ? id : "clt-local";

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    public static ConsulProcess Start(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(ConsulBinary.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var consul = new ConsulProcess(process);
        process.OutputDataReceived += (_, e) => consul.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => consul.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        s_running[consul] = true;
        return consul;
    }

    public string OutputTail(int lines = 25) => string.Join(Environment.NewLine, _output.TakeLast(lines));

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Stops the process without a graceful leave, as a crash or a pulled cable would.</summary>
    public async Task KillAndWaitAsync()
    {
        Kill();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAndWaitAsync().ConfigureAwait(false);
        }
        finally
        {
            s_running.TryRemove(this, out _);
            _process.Dispose();
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }
}
