using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// One <c>tests/ChaosWorker</c> process. Its command line carries <c>CONSULLOCK_TEST_RUN_ID</c> so that
/// <c>eng/test.sh</c>'s sweep finds it; it is killed on disposal and, as a last resort, when the test host exits.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<WorkerProcess, bool> s_running = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<(long At, string Line)> _logged = new();

    static WorkerProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var worker in s_running.Keys)
            {
                worker.Kill();
            }
        };
    }

    private WorkerProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public static WorkerProcess Start(string name, string register, Uri consul, IEnumerable<string> keys, int flows, int seed)
    {
        var path = BuildOutput.PathOf(Path.Combine("tests", "ChaosWorker"), "ConsulLock.Aop.ChaosWorker");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { path, register, consul.ToString(), name, string.Join(',', keys), Text(flows), Text(seed), ConsulProcess.RunId })
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var worker = new WorkerProcess(name, process);
        process.OutputDataReceived += (_, e) => worker.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        s_running[worker] = true;
        return worker;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Exited with code 0 (stopped, its provider disposed), not killed.</summary>
    public bool StoppedCleanly => _process.HasExited && _process.ExitCode == 0;

    public string OutputTail(int lines = 20) => string.Join(Environment.NewLine, _output.TakeLast(lines));

    /// <summary>
    /// The engine's warnings the worker logged (<c>log &lt;timestamp&gt; &lt;level&gt; &lt;message&gt;</c> on standard error), with
    /// their monotonic timestamps, for the run's history.
    /// </summary>
    public IReadOnlyList<(long At, string Line)> Logged => [.. _logged];

    public Task SuspendAsync() => Signal.SendAsync("STOP", _process.Id);

    public Task ResumeAsync() => Signal.SendAsync("CONT", _process.Id);

    /// <summary>Asks the worker to finish (its flows end, its provider is disposed); true when it exited 0 in time.</summary>
    public async Task<bool> StopAsync(TimeSpan limit)
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("stop").ConfigureAwait(false);
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone; the exit code tells.
        }

        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            return _process.ExitCode == 0;
        }
        catch (OperationCanceledException)
        {
            Kill();
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        s_running.TryRemove(this, out _);
        _process.Dispose();
    }

    private void Kill()
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
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        var parts = line.Split(' ', 3);
        if (parts.Length == 3 && parts[0] == "log" && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var at))
        {
            // Kept whole (bounded, in case a fault makes a worker log without end).
            if (_logged.Count < 100_000)
            {
                _logged.Enqueue((at, parts[2]));
            }

            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
