using System.Collections.Concurrent;
using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Benchmarks;

/// <summary>
/// The floor: what any Consul lock costs at least. A session made once, then <c>PUT ?acquire</c> and
/// <c>PUT ?release</c> on a key with our internal <see cref="ConsulClient"/>: two round trips per cycle, no reads,
/// no watches, no local bookkeeping.
/// </summary>
internal sealed class RawKv(Uri address) : IDisposable
{
    private readonly ConsulClient _client = new(new ConsulLockOptions { Address = address });
    private readonly List<string> _sessions = [];
    private readonly ConcurrentDictionary<string, ulong> _txnIndexes = new(StringComparer.Ordinal);

    /// <summary>A session that outlives the whole benchmark (TTL 10 min; Consul invalidates after 2 x TTL).</summary>
    public async Task<string> CreateSessionAsync(CancellationToken cancellationToken)
    {
        var id = await _client.CreateSessionAsync(
            new SessionCreateRequest { Name = "ConsulLock.Aop.Benchmarks floor", TTL = "600s", LockDelay = "0s", Behavior = "release" },
            cancellationToken);
        _sessions.Add(id);
        return id;
    }

    /// <summary>One acquire + release; fails loudly if Consul refuses either, since the floor must not cheat.</summary>
    public async Task CycleAsync(string key, string sessionId)
    {
        if (!await _client.AcquireAsync(key, sessionId, ConsulClient.LockFlagValue, CancellationToken.None))
        {
            throw new InvalidOperationException($"Consul refused the floor's acquire of '{key}'.");
        }

        if (!await _client.ReleaseAsync(key, sessionId, ConsulClient.LockFlagValue, CancellationToken.None))
        {
            throw new InvalidOperationException($"Consul refused the floor's release of '{key}'.");
        }
    }

    /// <summary>
    /// Not a floor but a reference: the very requests the engine sends for an uncontended cycle (txn check-index +
    /// lock, then txn unlock, the index carried over from the last unlock), without the engine around them.
    /// </summary>
    public async Task TxnCycleAsync(string key, string sessionId)
    {
        var check = _txnIndexes.TryGetValue(key, out var index) ? TxnOperation.CheckIndex(key, index) : TxnOperation.CheckNotExists(key);
        var locked = await _client.TransactAsync([check, TxnOperation.Lock(key, sessionId, ConsulClient.LockFlagValue)], key, "lock", CancellationToken.None);
        var unlocked = await _client.TransactAsync([TxnOperation.Unlock(key, sessionId, ConsulClient.LockFlagValue)], key, "unlock", CancellationToken.None);
        _txnIndexes[key] = locked.Errors is { Count: > 0 } || unlocked.Errors is { Count: > 0 } || unlocked.Results?[^1].KV is not { } entry
            ? throw new InvalidOperationException($"Consul refused the reference txn cycle on '{key}'.")
            : entry.ModifyIndex;
    }

    public async Task DestroySessionsAsync()
    {
        foreach (var id in _sessions)
        {
            await _client.DestroySessionAsync(id, CancellationToken.None);
        }

        _sessions.Clear();
    }

    public void Dispose() => _client.Dispose();
}
