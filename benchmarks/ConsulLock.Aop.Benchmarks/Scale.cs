using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>
/// Issue 9's scenarios (<c>--scale</c>), each next to its floor in the same run and on the same agent: folder size,
/// many held locks, many contending providers, allocation per cycle. Bytes and requests come from counting handlers,
/// connections from a TCP proxy that counts them; a fresh agent per scenario (and per folder size and provider count).
/// </summary>
internal static class Scale
{
    private static readonly TimeSpan s_generous = TimeSpan.FromSeconds(60);

    public static async Task<string> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var quick = settings == Settings.Quick;
        var md = new StringBuilder();

        var folders = new List<string[]>();
        foreach (var size in quick ? new[] { 0, 10_000 } : [0, 10_000, 100_000])
        {
            folders.Add(await Agents.OnFreshAgentAsync(address => FolderAsync(address, size, quick ? 10 : 40, settings, cancellationToken), cancellationToken));
        }

        md.AppendLine("## Folder size: one key handed between 2 providers, and uncontended cycles, beside N other keys");
        md.AppendLine();
        Report.Table(md, ["Keys beside it", "Bytes received per handoff", "Requests per handoff", "Handoff: release to grant, median", "Cycle: ours, median", "Cycle: floor, median", "Ours / floor"], folders);

        var held = await Agents.OnFreshAgentAsync(address => HeldAsync(address, quick ? 1_000 : 10_000, quick ? 100 : 1_000, cancellationToken), cancellationToken);
        md.AppendLine(Inv($"## Many held locks: one provider (MaxConnections 32) holds locks in as many folders and waits on keys a second provider holds"));
        md.AppendLine();
        Report.Table(md, ["Measure", "Value"], held);

        var contention = new List<string[]>();
        foreach (var callers in new[] { 4, 1 })
        {
            foreach (var providers in new[] { 2, 8, 32 })
            {
                contention.Add(await Agents.OnFreshAgentAsync(address => ContendAsync(address, providers, callers, settings, cancellationToken), cancellationToken));
            }
        }

        md.AppendLine(Inv($"## Contending providers: 4 or 1 callers each, taking turns on one key, {settings.ContendedWindow.TotalSeconds:0.#} s window"));
        md.AppendLine();
        Report.Table(md, ["Providers x callers", "Requests per grant", "Grants/s", "Floor cycles/s", "Grants / floor", "Wait p50", "Wait p99", "Share per provider (min-max)", "Overlaps"], contention);

        var allocation = await Agents.OnFreshAgentAsync(address => AllocationAsync(address, settings, cancellationToken), cancellationToken);
        md.AppendLine("## Allocation per uncontended cycle, whole process (GC.GetTotalAllocatedBytes), ours vs the floor's two requests through the same HttpClient");
        md.AppendLine();
        Report.Table(md, ["Measure", "Floor (raw KV)", "Ours", "Ours / floor"], [allocation]);
        return md.ToString();
    }

    /// <summary>Handoffs (counted) and uncontended cycles (timed, interleaved with the floor) in a folder of <paramref name="size"/> other keys.</summary>
    private static async Task<string[]> FolderAsync(Uri address, int size, int handoffs, Settings settings, CancellationToken cancellationToken)
    {
        await FillAsync(address, "bench/f/", size, cancellationToken);
        Progress.Write($"folder of {size:N0} keys filled");
        var counters = new[] { new CountingHandler(), new CountingHandler() };
        var providers = counters.Select(c => Counted(address, "bench/f/", c)).ToArray();
        var times = new List<double>();
        long bytes, requests;
        try
        {
            var handle = await providers[0].AcquireAsync("target", cancellationToken: cancellationToken);
            handle = (await HandOffAsync(handle, providers[1], "target", cancellationToken)).Handle;
            handle = (await HandOffAsync(handle, providers[0], "target", cancellationToken)).Handle;
            (bytes, requests) = (counters.Sum(c => c.ResponseBytes), counters.Sum(c => c.Requests));
            for (var i = 0; i < handoffs; i++)
            {
                (handle, var ms) = await HandOffAsync(handle, providers[(i + 1) % 2], "target", cancellationToken);
                times.Add(ms);
            }

            await handle.DisposeAsync();
            (bytes, requests) = (counters.Sum(c => c.ResponseBytes) - bytes, counters.Sum(c => c.Requests) - requests);
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }

        using var raw = new RawKv(address);
        var session = await raw.CreateSessionAsync(cancellationToken);
        await using var ours = Providers.Create(address, "bench/f/");
        Func<Task>[] loops = [() => raw.CycleAsync("bench/f/floor", session), () => Providers.CycleAsync(ours, "cycle")];
        await Measure.InterleavedAsync(loops, settings.WarmupCycles, Uncontended.Block, cancellationToken);
        var runs = await Measure.InterleavedAsync(loops, settings.Cycles, Uncontended.Block, cancellationToken);
        await raw.DestroySessionsAsync();
        Progress.Write($"folder {size:N0}: {bytes / (double)handoffs:0} bytes per handoff, cycle ours {runs[1].MedianMs:0.00} ms vs floor {runs[0].MedianMs:0.00} ms");
        return
        [
            Inv($"{size:N0}"), Inv($"{bytes / (double)handoffs:N0}"), Inv($"{requests / (double)handoffs:0.00}"), Inv($"{Stats.Median(times):0.00} ms"),
            Inv($"{runs[1].MedianMs:0.00} ms"), Inv($"{runs[0].MedianMs:0.00} ms"), Inv($"{runs[1].MedianMs / runs[0].MedianMs:0.00}x"),
        ];
    }

    /// <summary>
    /// One provider holds <paramref name="held"/> locks in as many folders and waits on <paramref name="waited"/> keys:
    /// first through a proxy that counts connections, then again through a handler that counts requests for one TTL.
    /// </summary>
    private static async Task<string[][]> HeldAsync(Uri address, int held, int waited, CancellationToken cancellationToken)
    {
        var rows = new List<string[]>();
        await using (var proxy = FaultProxy.Start(address))
        {
            var provider = Providers.Create(proxy.Address, "bench/h/");
            await using var other = Providers.Create(address, "bench/h/");
            try
            {
                // Memory per lock is the growth from holding half the locks to holding all of them: by then the
                // connections (and the proxy's buffers for them) exist, so what grows is what each lock costs.
                var start = Stopwatch.GetTimestamp();
                var half = await HoldAsync(provider, 0, held / 2, cancellationToken);
                var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
                var rest = await HoldAsync(provider, held / 2, held - held / 2, cancellationToken);
                var memory = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
                var holdTime = Stopwatch.GetElapsedTime(start);
                IConsulLockHandle[] handles = [.. half, .. rest];
                var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Get, address, "/v1/session/list", cancellationToken: cancellationToken);
                var sessions = status == HttpStatusCode.OK ? JsonDocument.Parse(body).RootElement.GetArrayLength() : -1;

                var busy = new List<IConsulLockHandle>();
                for (var i = 0; i < waited; i++)
                {
                    busy.Add(await other.AcquireAsync($"waited/{i}", cancellationToken: cancellationToken));
                }

                var waiters = Enumerable.Range(0, waited).Select(i => provider.AcquireAsync($"waited/{i}", cancellationToken: cancellationToken).AsTask()).ToArray();
                using (var timeout = new CancellationTokenSource(s_generous))
                {
                    while (Enumerable.Range(0, waited).Any(i => !provider.Engine.HasWaiterOn($"bench/h/waited/{i}")))
                    {
                        await Task.Delay(10, timeout.Token);
                    }
                }

                var (dedicated, polled) = provider.Engine.Watches.Counts;
                // Losses: an operator deletes 20 held keys (spread over the set); time from each delete to its lost-token.
                var lossTimes = new List<double>();
                foreach (var i in Enumerable.Range(0, 20).Select(n => n * (held / 20) + 7))
                {
                    var lost = Lost(handles[i]);
                    var deletedAt = Stopwatch.GetTimestamp();
                    await ConsulHttp.SendAsync(HttpMethod.Delete, address, "/v1/kv/" + handles[i].Key, cancellationToken: cancellationToken);
                    await lost.WaitAsync(s_generous, cancellationToken);
                    lossTimes.Add(Stopwatch.GetElapsedTime(deletedAt).TotalMilliseconds);
                }

                var releasedAt = Stopwatch.GetTimestamp();
                var grantTimes = waiters.Select(async w => { var h = await w; return (h, Stopwatch.GetElapsedTime(releasedAt).TotalMilliseconds); }).ToArray();
                foreach (var handle in busy)
                {
                    await handle.DisposeAsync();
                }

                var granted = await Task.WhenAll(grantTimes).WaitAsync(s_generous, cancellationToken);
                var falseLosses = handles.Count(h => h.LostToken.IsCancellationRequested) - lossTimes.Count;
                rows.Add([Inv($"{held:N0} locks taken, 16 at a time"), Inv($"{holdTime.TotalSeconds:0.0} s ({held / holdTime.TotalSeconds:N0}/s)")]);
                rows.Add(["Sessions in Consul", Inv($"{sessions}")]);
                rows.Add(["Managed memory per held lock (GC.GetTotalMemory growth over the second half, handles included)", Inv($"{memory / (double)(held - held / 2):N0} bytes")]);
                rows.Add(["Keys with a blocking query / checked in batches of 64", Inv($"{dedicated} / {polled:N0}")]);
                rows.Add(["Connections to Consul at most (counted by a TCP proxy)", Inv($"{proxy.MostConnections} (budget 32)")]);
                rows.Add(["Lost-token after an operator deletes a held key (20 keys)", Inv($"median {Stats.Median(lossTimes):N0} ms, max {lossTimes.Max():N0} ms")]);
                rows.Add([Inv($"Waiters granted after their {waited:N0} keys are released one by one"), Inv($"{granted.Length:N0}; last after {granted.Max(g => g.Item2):N0} ms")]);
                rows.Add(["False losses among the other held locks", Inv($"{falseLosses}")]);
                foreach (var (handle, _) in granted)
                {
                    await handle.DisposeAsync();
                }
            }
            finally
            {
                await provider.DisposeAsync();
            }
        }

        // Requests in steady state, one TTL long, through a counting handler (it has no connection budget of its own).
        var counter = new CountingHandler();
        await using (var counted = Counted(address, "bench/h2/", counter))
        {
            await HoldAsync(counted, 0, held, cancellationToken);
            var before = counter.Log.Count;
            var ttl = new ConsulLockOptions().SessionTtl;
            await Task.Delay(ttl, cancellationToken);
            var log = counter.Log.Skip(before).ToArray();
            rows.Add([Inv($"Requests while holding, over one TTL ({ttl.TotalSeconds:0} s)"), Inv($"{log.Length:N0}: {log.Count(r => r.Contains("/session/renew", StringComparison.Ordinal))} renewals, {log.Count(r => r.StartsWith("PUT /v1/txn", StringComparison.Ordinal))} batch checks, {log.Count(r => r.StartsWith("GET", StringComparison.Ordinal))} reads")]);
            Progress.Write($"held: {string.Join("; ", rows.Select(r => r[0] + " " + r[1]))}");
        }

        return [.. rows];
    }

    private static async Task<IConsulLockHandle[]> HoldAsync(ConsulLockProvider provider, int first, int count, CancellationToken cancellationToken)
    {
        var handles = new IConsulLockHandle[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (i, ct) =>
            handles[i] = await provider.AcquireAsync($"tenant-{first + i}/job", cancellationToken: ct));
        return handles;
    }

    /// <summary><paramref name="count"/> providers x <paramref name="callers"/> callers looping on one key for a window; each provider counts its requests.</summary>
    private static async Task<string[]> ContendAsync(Uri address, int count, int callers, Settings settings, CancellationToken cancellationToken)
    {
        using var raw = new RawKv(address);
        var session = await raw.CreateSessionAsync(cancellationToken);
        await Measure.CyclesAsync(() => raw.CycleAsync("bench/c/floor", session), settings.WarmupCycles, cancellationToken);
        var floor = await Measure.CyclesAsync(() => raw.CycleAsync("bench/c/floor", session), settings.Cycles, cancellationToken);
        await raw.DestroySessionsAsync();

        var counters = Enumerable.Range(0, count).Select(_ => new CountingHandler()).ToArray();
        var providers = counters.Select(c => Counted(address, "bench/c/", c)).ToArray();
        try
        {
            foreach (var provider in providers)
            {
                await Providers.CycleAsync(provider, "hot");
            }

            var waits = new System.Collections.Concurrent.ConcurrentBag<double>();
            var inside = 0;
            var overlaps = 0;
            var before = counters.Sum(c => c.Requests);
            var window = await Measure.WindowAsync(count * callers, settings.ContendedWindow, async caller =>
            {
                var asked = Stopwatch.GetTimestamp();
                var handle = await providers[caller % count].AcquireAsync("hot", cancellationToken: cancellationToken);
                var grantedAt = Stopwatch.GetTimestamp();
                waits.Add(Stopwatch.GetElapsedTime(asked, grantedAt).TotalMilliseconds);
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Interlocked.Decrement(ref inside);
                await handle.DisposeAsync();
                return grantedAt;
            }, cancellationToken);
            var requests = counters.Sum(c => c.Requests) - before;
            var shares = Enumerable.Range(0, count)
                .Select(p => window.PerCaller.Where((_, caller) => caller % count == p).Sum() * 100.0 / Math.Max(1, window.Total)).ToArray();
            Progress.Write($"{count} providers x {callers} callers: {requests / (double)waits.Count:0.0} requests per grant, {window.PerSecond:N0} grants/s, p99 wait {Stats.Percentile(waits, 0.99):0.0} ms");
            return
            [
                Inv($"{count} x {callers}"), Inv($"{requests / (double)Math.Max(1, waits.Count):0.00}"), Inv($"{window.PerSecond:N0}"), Inv($"{floor.CyclesPerSecond:N0}"),
                Inv($"{window.PerSecond / floor.CyclesPerSecond:0.00}"), Inv($"{Stats.Median(waits):0.0} ms"), Inv($"{Stats.Percentile(waits, 0.99):0.0} ms"),
                Inv($"{shares.Min():0.0}%-{shares.Max():0.0}% (fair: {100.0 / count:0.0}%)"), Inv($"{overlaps}"),
            ];
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    /// <summary>Bytes the whole process allocates per cycle, ours and the floor, in alternating blocks; medians of the blocks.</summary>
    private static async Task<string[]> AllocationAsync(Uri address, Settings settings, CancellationToken cancellationToken)
    {
        using var raw = new RawKv(address);
        var session = await raw.CreateSessionAsync(cancellationToken);
        await using var provider = Providers.Create(address, "bench/m/");
        Func<Task>[] loops = [() => raw.CycleAsync("bench/m/floor", session), () => Providers.CycleAsync(provider, "key")];
        var perCycle = loops.Select(_ => new List<double>()).ToArray();
        await Measure.InterleavedAsync(loops, settings.WarmupCycles, Uncontended.Block, cancellationToken);
        for (var block = 0; block < settings.Runs * 2; block++)
        {
            for (var i = 0; i < loops.Length; i++)
            {
                var loop = (block + i) % loops.Length;
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                for (var cycle = 0; cycle < settings.Cycles / 4; cycle++)
                {
                    await loops[loop]();
                }

                perCycle[loop].Add((GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)(settings.Cycles / 4));
            }
        }

        await raw.DestroySessionsAsync();
        var (floor, ours) = (Stats.Median(perCycle[0]), Stats.Median(perCycle[1]));
        Progress.Write($"allocation per cycle: floor {floor:N0} bytes, ours {ours:N0} bytes");
        return ["Bytes allocated per cycle, median of blocks", Inv($"{floor:N0}"), Inv($"{ours:N0}"), Inv($"{ours / floor:0.00}x")];
    }

    private static async Task<(IConsulLockHandle Handle, double Ms)> HandOffAsync(IConsulLockHandle held, ConsulLockProvider to, string key, CancellationToken cancellationToken)
    {
        var waiting = to.AcquireAsync(key, cancellationToken: cancellationToken).AsTask();
        using (var timeout = new CancellationTokenSource(s_generous))
        {
            while (!to.Engine.HasWaiterOn("bench/f/" + key))
            {
                await Task.Delay(1, timeout.Token);
            }
        }

        var start = Stopwatch.GetTimestamp();
        await held.DisposeAsync();
        var handle = await waiting.WaitAsync(s_generous, cancellationToken);
        return (handle, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    /// <summary>Writes <paramref name="count"/> lock-like keys under the folder.</summary>
    private static Task FillAsync(Uri address, string folder, int count, CancellationToken cancellationToken) =>
        ConsulHttp.SetKeysAsync(address, Enumerable.Range(0, count).Select(i => $"{folder}other-{i}"),
            "{\"Holder\":\"someone-else\",\"Since\":\"2026-11-25T00:00:00Z\"}", ConsulClient.LockFlagValue, cancellationToken);

    private static ConsulLockProvider Counted(Uri address, string keyPrefix, CountingHandler counter) =>
        new(new ConsulLockOptions { Address = address, KeyPrefix = keyPrefix, LockDelay = TimeSpan.Zero }, loggerFactory: null, counter);

    private static Task Lost(IConsulLockHandle handle)
    {
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        handle.LostToken.Register(() => lost.TrySetResult());
        return lost.Task;
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
