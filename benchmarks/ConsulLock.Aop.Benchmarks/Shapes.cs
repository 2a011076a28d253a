using System.Globalization;
using System.Text;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>
/// <c>--shapes</c>: where an uncontended cycle's time goes. One caller runs each pair of lock and unlock requests
/// (KV <c>?acquire</c>/<c>?release</c>, transactions with and without the index check) and the engine itself, the
/// loops interleaved as in (a); each is reported as a ratio to the KV pair, the median of the paired per-run ratios.
/// </summary>
internal static class Shapes
{
    public static async Task<string> RunAsync(Uri address, Settings settings, CancellationToken cancellationToken)
    {
        using var client = new ConsulClient(new ConsulLockOptions { Address = address });
        var session = await client.CreateSessionAsync(
            new SessionCreateRequest { Name = "ConsulLock.Aop.Benchmarks shapes", TTL = "600s", LockDelay = "0s", Behavior = "release" }, cancellationToken);
        await using var provider = Providers.Create(address, "bench/shapes-ours/");
        var flags = ConsulClient.LockFlagValue;
        ulong knownIndex = 0;

        Task<bool> KvAcquire(string key) => client.AcquireAsync(key, session, flags, CancellationToken.None);
        Task<bool> KvRelease(string key) => client.ReleaseAsync(key, session, flags, CancellationToken.None);
        async Task<bool> TxnLock(string key, bool check)
        {
            TxnOperation[] operations = check
                ? [knownIndex == 0 ? TxnOperation.CheckNotExists(key) : TxnOperation.CheckIndex(key, knownIndex), TxnOperation.Lock(key, session, flags)]
                : [TxnOperation.Lock(key, session, flags)];
            return await client.TransactAsync([.. operations], key, "lock", CancellationToken.None) is { Errors: not { Count: > 0 } };
        }

        async Task<bool> TxnUnlock(string key)
        {
            var answer = await client.TransactAsync([TxnOperation.Unlock(key, session, flags)], key, "unlock", CancellationToken.None);
            knownIndex = key.EndsWith("checked", StringComparison.Ordinal) && answer.Results?[^1].KV is { } entry ? entry.ModifyIndex : knownIndex;
            return answer.Errors is not { Count: > 0 };
        }

        static Func<Task> Pair(string key, Func<string, Task<bool>> acquire, Func<string, Task<bool>> release) => async () =>
        {
            if (!await acquire(key) || !await release(key))
            {
                throw new InvalidOperationException($"Consul refused a request of the shape measured on '{key}'.");
            }
        };

        (string Name, Func<Task> Loop)[] shapes =
        [
            ("KV ?acquire + KV ?release (the floor)", Pair("bench/shapes/kv", KvAcquire, KvRelease)),
            ("KV ?acquire + txn unlock", Pair("bench/shapes/kv-txn", KvAcquire, TxnUnlock)),
            ("txn lock + KV ?release", Pair("bench/shapes/txn-kv", k => TxnLock(k, check: false), KvRelease)),
            ("txn lock + txn unlock", Pair("bench/shapes/txn", k => TxnLock(k, check: false), TxnUnlock)),
            ("txn check + lock, txn unlock (the engine's requests)", Pair("bench/shapes/txn-checked", k => TxnLock(k, check: true), TxnUnlock)),
            ("ours: AcquireAsync + DisposeAsync", () => Providers.CycleAsync(provider, "key")),
        ];
        var loops = shapes.Select(s => s.Loop).ToArray();
        await Measure.InterleavedAsync(loops, settings.WarmupCycles, Uncontended.Block, cancellationToken);
        var ratios = shapes.Select(_ => new List<double>()).ToArray();
        var medians = shapes.Select(_ => new List<double>()).ToArray();
        for (var run = 0; run < settings.Runs; run++)
        {
            var result = await Measure.InterleavedAsync(loops, settings.Cycles, Uncontended.Block, cancellationToken);
            for (var i = 0; i < shapes.Length; i++)
            {
                ratios[i].Add(result[i].MedianMs / result[0].MedianMs);
                medians[i].Add(result[i].MedianMs);
            }

            Progress.Write($"(shapes) run {run + 1}/{settings.Runs}: {string.Join(", ", result.Select(r => r.MedianMs.ToString("0.000", CultureInfo.InvariantCulture)))} ms");
        }

        var table = new StringBuilder()
            .AppendLine("| Requests of one cycle | Median cycle latency | Ratio to the floor |")
            .AppendLine("| --- | --- | --- |");
        for (var i = 0; i < shapes.Length; i++)
        {
            table.AppendLine(FormattableString.Invariant($"| {shapes[i].Name} | {Stats.Median(medians[i]):0.00} ms | {Stats.Median(ratios[i]):0.00}x |"));
        }

        return table.ToString();
    }
}
