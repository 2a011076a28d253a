using System.Diagnostics;
using System.Globalization;
using ConsulLock.Aop;
using ConsulLock.Aop.ChaosWorker;
using Microsoft.Extensions.Logging;

// Usage: ChaosWorker <register host:port> <consul address> <name> <keys, comma-separated> <flows> <seed> [run id]
// Runs <flows> concurrent loops that lock random keys in random ways (short and long holds, waits with a timeout,
// callers that cancel) until standard input closes or says "stop"; then disposes the provider and exits 0.
// The run id is only there so that a sweep by command line finds a stray worker.
// The key "leader" is not locked by the flows: one more flow campaigns for it ([ConsulLeader]), each term holding it
// for a random time before resigning, and reports its terms as sections, so the checker sees one term at a time.
var register = await RegisterClient.ConnectAsync(args[0]);
var address = new Uri(args[1]);
var name = args[2];
var allKeys = args[3].Split(',');
var keys = allKeys.Where(k => k != LeaderWorkload.Key).ToArray();
var flows = int.Parse(args[4], CultureInfo.InvariantCulture);
var seed = int.Parse(args[5], CultureInfo.InvariantCulture);

using var stop = new CancellationTokenSource();
var stdin = Task.Run(() =>
{
    string? line;
    while ((line = Console.ReadLine()) is not null && line != "stop")
    {
    }

    stop.Cancel();
});

// At Debug: StderrLog passes on the warnings and the waiters' "Waiting" events (what each waits for: a predecessor, a
// holder, Consul's lock-delay). LoggerFactory's default minimum is Information, which dropped every "Waiting" event.
using var logging = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new StderrLog()));
await using (var provider = new ConsulLockProvider(new ConsulLockOptions { Address = address, KeyPrefix = "chaos/" }, logging))
{
    var loops = Enumerable.Range(0, keys.Length == 0 ? 0 : flows).Select(i => RunFlowAsync(provider, $"{name}.{i}", new Random(seed * 100 + i)))
        .Concat(allKeys.Contains(LeaderWorkload.Key) ? [LeaderWorkload.RunAsync(new Sections(provider, register, $"{name}.leader"), register, $"{name}.leader", new Random(seed * 100 + 99), stop.Token)] : [])
        .Append(RunPermitFlowAsync(provider, $"{name}.p", new Random(seed * 100 + 98))) // the semaphore workload, one flow per worker
        .ToArray();
    await register.SendAsync("hello", name, Environment.ProcessId, Stopwatch.GetTimestamp());
    await Task.WhenAll(loops);
}

await register.SendAsync("bye", name, Stopwatch.GetTimestamp());
await register.DisposeAsync();
await stdin;
return 0;

async Task RunPermitFlowAsync(IConsulLockProvider provider, string flow, Random random)
{
    var permits = new Permits(provider, register, flow);
    while (!stop.IsCancellationRequested)
    {
        var roll = random.Next(100);
        try
        {
            if (roll < 60)
            {
                await permits.HoldAsync("s", random.Next(20, 400), stop.Token);
            }
            else if (roll < 80)
            {
                await permits.HoldWithTimeoutAsync("s", random.Next(20, 1500), stop.Token);
            }
            else
            {
                using var caller = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                caller.CancelAfter(random.Next(0, 1500));
                await permits.HoldAsync("s", random.Next(200, 2000), caller.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConsulLockException or HttpRequestException or ObjectDisposedException or InvalidOperationException)
        {
            // Timeouts, cancellations, losses and failures: the permit's lines say what the checker needs.
            try
            {
                await Task.Delay(ex is OperationCanceledException ? 0 : 200, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        try
        {
            await Task.Delay(random.Next(0, 100), stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

async Task RunFlowAsync(IConsulLockProvider provider, string flow, Random random)
{
    var sections = new Sections(provider, register, flow);
    while (!stop.IsCancellationRequested)
    {
        var key = keys[random.Next(keys.Length)];
        var roll = random.Next(100);
        // When the flow began to wait for the key: the checker's recovery bound judges keys that someone waits for.
        await register.SendAsync("wait", flow, key, Stopwatch.GetTimestamp());
        try
        {
            if (roll < 50)
            {
                await sections.HoldAsync(key, random.Next(20, 200), stop.Token);
            }
            else if (roll < 70)
            {
                await sections.HoldAsync(key, random.Next(1500, 4000), stop.Token);
            }
            else if (roll < 85)
            {
                await sections.HoldWithTimeoutAsync(key, random.Next(20, 500), stop.Token);
            }
            else
            {
                // A caller that gives up after a random time, waiting or holding.
                using var caller = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                caller.CancelAfter(random.Next(0, 2000));
                await sections.HoldAsync(key, random.Next(500, 3000), caller.Token);
            }
        }
        catch (ConsulLockTimeoutException)
        {
            await register.SendAsync("timeout", flow, key, Stopwatch.GetTimestamp());
        }
        catch (ConsulLockLostException ex)
        {
            // The loss itself is reported by the section's lost-token callback, with its time; this records why the
            // engine gave the lock up, so that a false loss in a soak can be traced to its evidence.
            await register.SendAsync("why", flow, key, Stopwatch.GetTimestamp(), ex.Message.Replace(' ', '_'));
        }
        catch (OperationCanceledException)
        {
            // The caller gave up (or the worker stops): ends its wait, if it was still waiting.
            await register.SendAsync("quit", flow, key, Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is ConsulLockException or HttpRequestException or ObjectDisposedException or InvalidOperationException)
        {
            var message = ex.Message.Length > 300 ? ex.Message[..300] : ex.Message;
            await register.SendAsync("error", flow, key, Stopwatch.GetTimestamp(), ex.GetType().Name + ":" + message);
            try
            {
                await Task.Delay(200, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        try
        {
            await Task.Delay(random.Next(0, 100), stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
