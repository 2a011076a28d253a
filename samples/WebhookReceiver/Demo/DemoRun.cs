using System.Diagnostics;
using WebhookReceiver.Target;
using WebhookReceiver.Worker;

namespace WebhookReceiver.Demo;

/// <summary>
/// The whole demo: a Consul agent, the webhook target, three workers receiving the same deliveries; midway one
/// worker's session is destroyed while its call is in flight; at the end a timeline and a verdict from the target's
/// record of calls.
/// </summary>
public static class DemoRun
{
    private const int Workers = 3;
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(50);

    public static async Task<int> RunAsync()
    {
        var clock = Stopwatch.StartNew();
        Say(clock, "Starting Consul (or reusing the one at CONSUL_HTTP_ADDR)...");
        await using var consul = await LocalConsul.StartOrReuseAsync();
        Say(clock, $"Consul is at {consul.Address}{(consul.Started ? " (started for this demo)" : "")}.");

        await using var target = await WebhookTarget.StartAsync(clock);
        Say(clock, $"The webhook target listens at {target.Address}; each call takes 250 ms and carries the lock's fencing token.");

        // Midway, once a few calls have gone through, take a lock away from whoever is calling right then.
        var lossDone = new TaskCompletionSource<CallRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        target.CallStarted += call =>
        {
            if (Interlocked.Increment(ref started) == 6)
            {
                lossDone.TrySetResult(call);
            }
        };

        var prefix = $"demo/{DateTime.UtcNow:yyyyMMddHHmmss}-{Environment.ProcessId}/";
        Say(clock, $"Starting {Workers} worker processes; each receives deliveries 1-{WorkerProcess.DeliveriesPerId} for {string.Join(", ", WorkerProcess.Ids)}.");
        var workers = Enumerable.Range(1, Workers).Select(i => StartWorker($"worker-{i}", consul.Address, target.Address, prefix, clock)).ToList();
        try
        {
            var victim = await lossDone.Task.WaitAsync(s_limit);
            Say(clock, $"DEMO: destroying {victim.Worker}'s Consul session while its call for {victim.Id} (delivery {victim.Delivery}, token {victim.Token}) is in flight.");
            await consul.DestroySessionAsync(victim.Session);
            Say(clock, "Consul now keeps that worker's ids free for the lock-delay (1 s here) before another worker may take them over.");

            using var timeout = new CancellationTokenSource(s_limit);
            await Task.WhenAll(workers.Select(w => w.WaitForExitAsync(timeout.Token)));
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                {
                    worker.Kill(entireProcessTree: true);
                }
            }
        }

        var failedWorkers = workers.Count(w => w.ExitCode != 0);
        var verdict = Verdict.From(target.Calls);
        Console.WriteLine();
        Console.WriteLine(Timeline.Render(target.Calls));
        Console.WriteLine(verdict.Render());
        foreach (var worker in workers)
        {
            worker.Dispose();
        }

        Say(clock, $"Done in {clock.Elapsed.TotalSeconds:0.0} s.");
        return verdict.Passed && failedWorkers == 0 ? 0 : 1;
    }

    private static Process StartWorker(string name, Uri consul, Uri target, string prefix, Stopwatch clock)
    {
        // Run this same program again in worker mode, through the same host that runs us ('dotnet' or the app host).
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(DemoRun).Assembly.Location);
        }

        foreach (var argument in new[] { "worker", name, consul.ToString(), target.ToString(), prefix })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is { Length: > 0 })
            {
                Say(clock, $"[{name}] {line.Data}");
            }
        };
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is { Length: > 0 })
            {
                Say(clock, $"[{name} error] {line.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static readonly Lock s_console = new();

    private static void Say(Stopwatch clock, string text)
    {
        lock (s_console)
        {
            Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.00}s  {text}");
        }
    }
}
