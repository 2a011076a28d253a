using System.Diagnostics;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// The workers of one run, each behind its own <see cref="FaultProxy"/> to its agent, the register they write to,
/// and the schedule: scenarios and the faults injected in them. Disposal kills whatever is still running.
/// </summary>
public sealed class ChaosRun : IAsyncDisposable
{
    /// <summary>The session TTL of every section (the worker's attributes say the same).</summary>
    public static readonly TimeSpan SessionTtl = TimeSpan.FromSeconds(10);

    /// <summary>The lock-delay of every section (the worker's attributes say the same).</summary>
    public static readonly TimeSpan LockDelay = TimeSpan.FromSeconds(15);

    private readonly List<WorkerProcess> _workers = [];
    private readonly List<FaultProxy> _proxies = [];
    private readonly List<Fault> _faults = [];
    private readonly List<ScenarioRun> _scenarios = [];
    private readonly Action<string> _log;

    private ChaosRun(IReadOnlyList<string> keys, Action<string> log)
    {
        Keys = keys;
        _log = log;
    }

    public FencedRegister Register { get; } = new();

    public IReadOnlyList<string> Keys { get; }

    public IReadOnlyList<WorkerProcess> Workers => _workers;

    public IReadOnlyList<Fault> Faults => _faults;

    public IReadOnlyList<ScenarioRun> Scenarios => _scenarios;

    /// <summary>Starts <paramref name="agents"/>.Count x <paramref name="workersPerAgent"/> workers, worker i on agent i mod n.</summary>
    public static async Task<ChaosRun> StartAsync(IReadOnlyList<Uri> agents, int workersPerAgent, int flows, IReadOnlyList<string> keys, int seed, Action<string> log)
    {
        var run = new ChaosRun(keys, log);
        for (var i = 0; i < agents.Count * workersPerAgent; i++)
        {
            var proxy = FaultProxy.Start(agents[i % agents.Count]);
            run._proxies.Add(proxy);
            run._workers.Add(WorkerProcess.Start($"w{i}", run.Register.Endpoint, proxy.Address, keys, flows, seed + i));
        }

        // Ready when every worker said hello (its provider exists); a worker that dies at start fails here.
        var deadline = Stopwatch.GetTimestamp() + Checker.Ticks(TimeSpan.FromSeconds(60));
        while (run.Register.Snapshot().Count(e => e.Kind == "hello") < run._workers.Count)
        {
            if (run._workers.FirstOrDefault(w => w.HasExited) is { } dead || Stopwatch.GetTimestamp() > deadline)
            {
                var detail = string.Join("\n", run._workers.Select(w => w.Name + ": " + w.OutputTail(5)));
                await run.DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException("The workers did not start:\n" + detail);
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        return run;
    }

    public FaultProxy ProxyOf(string worker) => _proxies[_workers.FindIndex(w => w.Name == worker)];

    public WorkerProcess Worker(string worker) => _workers.First(w => w.Name == worker);

    public void Log(string line) => _log(line);

    /// <summary>Runs one phase: <paramref name="inject"/> injects and heals its faults, then the run settles.</summary>
    public async Task ScenarioAsync(string name, Func<Task<IReadOnlyList<Fault>>> inject, TimeSpan settle)
    {
        var start = Stopwatch.GetTimestamp();
        _log($"{Elapsed()} scenario {name}");
        var faults = await inject().ConfigureAwait(false);
        lock (_faults)
        {
            _faults.AddRange(faults);
        }

        foreach (var fault in faults)
        {
            _log($"{Elapsed()}   {fault.Name}: {Checker.Ms(fault.Heal - fault.Start):F0} ms until healed{(fault.MayCauseLoss ? ", may cause a loss" : "")}");
        }

        await Task.Delay(settle).ConfigureAwait(false);
        _scenarios.Add(new ScenarioRun(name, start, Stopwatch.GetTimestamp(), faults));
    }

    /// <summary>
    /// Workers with a section open right now (started, not ended), those in a long hold first (open for 300 ms or
    /// more: a short hold ends within 200 ms), so that a fault aimed at a holder finds it still holding.
    /// </summary>
    public IReadOnlyList<(string Worker, string Key, string Session)> Holders()
    {
        var open = new Dictionary<string, RegisterEvent>();
        foreach (var e in Register.Snapshot())
        {
            if (e.Kind == "start")
            {
                open[e.Flow] = e;
            }
            else if (e.Kind is "end")
            {
                open.Remove(e.Flow);
            }
        }

        var longHold = Stopwatch.GetTimestamp() - Checker.Ticks(TimeSpan.FromMilliseconds(300));
        return open.Values.OrderByDescending(e => e.At <= longHold).ThenByDescending(e => e.At).Select(e => (e.Worker, e.Key, e.Detail)).ToList();
    }

    /// <summary>Stops every worker gracefully; returns the names of those that did not exit 0 in time.</summary>
    public async Task<IReadOnlyList<string>> StopWorkersAsync()
    {
        foreach (var proxy in _proxies)
        {
            proxy.Heal();
        }

        var results = await Task.WhenAll(_workers.Select(async w => (w, ok: await w.StopAsync(TimeSpan.FromSeconds(45)).ConfigureAwait(false)))).ConfigureAwait(false);
        return results.Where(r => !r.ok).Select(r => $"{r.w.Name}: {r.w.OutputTail(10)}").ToList();
    }

    /// <summary>The checker's report for every scenario, and one row for the whole run.</summary>
    public IReadOnlyList<ScenarioReport> Check()
    {
        var history = Register.Snapshot();
        var reports = _scenarios.Select(s => Checker.Check(s, history, _faults)).ToList();
        if (_scenarios.Count > 0)
        {
            var whole = new ScenarioRun("whole run", _scenarios[0].Start, _scenarios[^1].End, _faults);
            reports.Add(Checker.Check(whole, history, _faults) with { Findings = [] });
        }

        return reports;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }

        await Register.DisposeAsync().ConfigureAwait(false);
    }

    private readonly long _created = Stopwatch.GetTimestamp();

    private string Elapsed() => $"[{Checker.Ms(Stopwatch.GetTimestamp() - _created) / 1000:F1} s]";
}
