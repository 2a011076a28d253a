using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Samples.Tests;

/// <summary>
/// A sample running as a process for as long as a test needs it: its output lines as they come, signals (SIGTERM for a
/// graceful stop, SIGKILL for a crash), and a kill at disposal if it is still running.
/// </summary>
internal sealed class SampleInstance : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Task _reading;
    private readonly SemaphoreSlim _changed = new(0);

    private SampleInstance(string name, Process process)
    {
        Name = name;
        _process = process;
        _reading = Task.WhenAll(ReadAsync(process.StandardOutput), ReadAsync(process.StandardError));
    }

    public string Name { get; }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public static SampleInstance Start(string name, string dll, IEnumerable<string> arguments, params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll) };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (variable, value) in environment)
        {
            start.Environment[variable] = value;
        }

        return new SampleInstance(name, Process.Start(start) ?? throw new InvalidOperationException($"{dll} did not start."));
    }

    /// <summary>The lines matching <paramref name="pattern"/> so far.</summary>
    public IReadOnlyList<Match> Matches(Regex pattern)
    {
        lock (_lines)
        {
            return [.. _lines.Select(line => pattern.Match(line)).Where(m => m.Success)];
        }
    }

    /// <summary>Until the <paramref name="count"/>-th line matching <paramref name="pattern"/> has been written; fails after <paramref name="limit"/>.</summary>
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan limit, int count = 1, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        while (true)
        {
            var found = Matches(pattern);
            if (found.Count >= count)
            {
                return found[count - 1];
            }

            try
            {
                await _changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{Name} wrote no line matching '{pattern}' (#{count}) within {limit}:\n{Output}");
            }
        }
    }

    /// <summary>Sends a signal: TERM (the host stops gracefully) or KILL (a crash).</summary>
    public async Task SignalAsync(string signal)
    {
        var (exit, output) = await ChildProcess.RunAsync("kill", [$"-{signal}", Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.True(exit == 0, output);
    }

    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        await _process.WaitForExitAsync(new CancellationTokenSource(limit).Token);
        await _reading;
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private async Task ReadAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_lines)
            {
                _lines.Add(line);
            }

            _changed.Release();
        }
    }
}
