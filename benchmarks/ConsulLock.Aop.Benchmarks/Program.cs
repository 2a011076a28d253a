using ConsulLock.Aop;
using ConsulLock.Aop.Benchmarks;
using ConsulLock.Aop.TestSupport;

// Usage: dotnet run -c Release --project benchmarks/ConsulLock.Aop.Benchmarks [--quick] [--shapes | --scale]
// --shapes measures only what each pair of lock requests costs next to the engine (where (a)'s time goes).
// --scale measures only issue 9's scenarios: folder size, many held locks, many contending providers, allocation.
// Starts its own Consul dev agents (eng/ensure-consul.sh provides the binary), one per scenario, and kills each after use.
if (args.Any(a => a is not ("--quick" or "--shapes" or "--scale")))
{
    Console.Error.WriteLine("Usage: ConsulLock.Aop.Benchmarks [--quick] [--shapes | --scale]");
    return 2;
}

var settings = args.Contains("--quick") ? Settings.Quick : Settings.Full;
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Stop after the cycles under way, so the agent is disposed (killed) below rather than orphaned.
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    var machine = await Machine.DescribeAsync(cancel.Token);
    var loadBefore = Machine.LoadAverage();
    Console.Error.WriteLine($"ConsulLock.Aop benchmarks, {settings.Mode} mode, {machine.Consul}.");

    if (args.Contains("--shapes"))
    {
        var shapes = await Agents.OnFreshAgentAsync(address => Shapes.RunAsync(address, settings, cancel.Token), cancel.Token);
        Console.WriteLine();
        Console.Write(shapes);
        return 0;
    }

    if (args.Contains("--scale"))
    {
        var scale = await Scale.RunAsync(settings, cancel.Token);
        var header = FormattableString.Invariant($"# ConsulLock.Aop scale benchmarks ({settings.Mode} mode)\n\n{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {machine.Processors} logical CPUs; {machine.Runtime}; {machine.Consul}, a fresh `consul agent -dev` per scenario. 1-minute load average {loadBefore} before, {Machine.LoadAverage()} after.\n\n");
        Console.WriteLine();
        Console.Write(header + scale);
        return 0;
    }

    var uncontended = await Agents.OnFreshAgentAsync(address => Uncontended.RunAsync(address, settings, cancel.Token), cancel.Token);
    var contended = await Agents.OnFreshAgentAsync(address => Contended.RunAsync(address, settings, cancel.Token), cancel.Token);
    var throughput = await Throughput.RunAsync(settings, cancel.Token);

    var markdown = Report.Build(settings, machine, (loadBefore, Machine.LoadAverage()), uncontended, contended, throughput);
    Console.WriteLine();
    Console.Write(markdown);
    // A quick run is a smoke test: it must not overwrite the figures of the last full run.
    var file = Path.Combine(ConsulBinary.RepositoryRoot, "benchmarks", "results", settings == Settings.Quick ? "latest-quick.md" : "latest.md");
    Directory.CreateDirectory(Path.GetDirectoryName(file)!);
    await File.WriteAllTextAsync(file, markdown, CancellationToken.None);
    Console.Error.WriteLine($"Written to {file}");
    return 0;
}
catch (Exception) when (cancel.IsCancellationRequested)
{
    // Ctrl+C reaches the consul agent too (same process group); whatever failed after it is part of stopping.
    Console.Error.WriteLine("Cancelled.");
    return 130;
}
catch (Exception ex) when (ex is ConsulLockException or InvalidOperationException or TimeoutException or HttpRequestException or IOException)
{
    // The agent has been disposed (killed) by the time we get here.
    Console.Error.WriteLine($"Benchmark failed: {ex}");
    return 1;
}
