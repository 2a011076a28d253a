using System.Diagnostics;
using System.Net.Http.Json;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Demo;

/// <summary>A receiver instance as a real process: this same program started in receiver mode, its output relayed.</summary>
public sealed class ReceiverProcess : IDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ReceiverProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public Uri Address => _listening.Task.Result;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts the receiver; <paramref name="say"/> gets each line it writes.</summary>
    public static ReceiverProcess Start(string name, Uri consul, Uri store, string prefix, DemoClock clock, Action<string> say)
    {
        // Run this same program again, through the same host that runs us ('dotnet' or the app host).
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(DemoRun).Assembly.Location);
        }

        foreach (var argument in new[] { "receiver", name, consul.ToString(), store.ToString(), prefix, clock.StartTicks.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        var receiver = new ReceiverProcess(name, Process.Start(start)!);
        receiver._process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is not { Length: > 0 } text)
            {
                return;
            }

            if (text.StartsWith("listening at ", StringComparison.Ordinal))
            {
                receiver._listening.TrySetResult(new Uri(text["listening at ".Length..]));
            }

            say($"[{name}] {text}");
        };
        receiver._process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is { Length: > 0 })
            {
                say($"[{name} error] {line.Data}");
            }
        };
        receiver._process.Exited += (_, _) => receiver._listening.TrySetException(new InvalidOperationException($"{name} exited before it listened."));
        receiver._process.EnableRaisingEvents = true;
        receiver._process.BeginOutputReadLine();
        receiver._process.BeginErrorReadLine();
        return receiver;
    }

    public Task WhenListeningAsync(TimeSpan limit) => _listening.Task.WaitAsync(limit);

    public async Task<ReceiverReport> ReportAsync() =>
        await s_http.GetFromJsonAsync<ReceiverReport>(new Uri(Address, "report")) ?? throw new InvalidOperationException($"{Name} sent no report.");

    /// <summary>The receiver's health endpoint's answer (the library's health check of its Consul connection and sessions).</summary>
    public Task<string> HealthAsync() => s_http.GetStringAsync(new Uri(Address, "healthz"));

    /// <summary>Asks the receiver to stop (it disposes its lock provider, ending its Consul session) and waits for it.</summary>
    public async Task StopAsync(TimeSpan limit)
    {
        using (await s_http.PostAsync(new Uri(Address, "shutdown"), null))
        {
        }

        using var timeout = new CancellationTokenSource(limit);
        await _process.WaitForExitAsync(timeout.Token);
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public void Dispose() => _process.Dispose();
}
