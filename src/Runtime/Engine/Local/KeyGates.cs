namespace ConsulLock.Aop.Engine;

/// <summary>
/// In-process exclusion per key. Consul grants a key again to the session that already holds it, and callers with
/// equal settings share a session, so exclusion among this process's callers is ours to do. Only the caller at the
/// head of a key's queue talks to Consul; the others wait here, which also coalesces many local waiters on one key
/// into one watch. A caller leaving the gate may hand the next one a <see cref="QueueHandoff"/> (a place it took for it
/// in the key's queue in Consul); one that nobody picks up goes to <paramref name="onUnusedHandoff"/> when the gate empties.
/// </summary>
internal sealed class KeyGates(Action<string, QueueHandoff>? onUnusedHandoff = null)
{
    private readonly Dictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    /// <summary>Enters the key's gate; false when <paramref name="timeout"/> passed first.</summary>
    public async ValueTask<bool> EnterAsync(string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Gate gate;
        lock (_gates)
        {
            if (!_gates.TryGetValue(key, out gate!))
            {
                gate = new Gate();
                _gates.Add(key, gate);
            }

            gate.Users++;
        }

        var entered = false;
        try
        {
            entered = await gate.Semaphore.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return entered;
        }
        finally
        {
            if (!entered)
            {
                Leave(key, gate, release: false);
            }
        }
    }

    /// <summary>Whether nobody of this process holds or waits for the key's gate right now (a hint, not a promise).</summary>
    public bool IsFree(string key)
    {
        lock (_gates)
        {
            return !_gates.ContainsKey(key);
        }
    }

    /// <summary>Whether another caller waits to enter the gate that the caller holds (a hint, not a promise).</summary>
    public bool HasWaiters(string key)
    {
        lock (_gates)
        {
            return _gates.TryGetValue(key, out var gate) && gate.Users > 1;
        }
    }

    /// <summary>How many callers wait to enter the key's gate now, besides the one inside (the in-memory provider's waiters).</summary>
    public int WaiterCount(string key)
    {
        lock (_gates)
        {
            return _gates.TryGetValue(key, out var gate) ? Math.Max(gate.Users - 1, 0) : 0;
        }
    }

    /// <summary>Takes the handoff the previous holder of the gate left, if any; called by the caller inside the gate.</summary>
    public QueueHandoff? TakeHandoff(string key)
    {
        lock (_gates)
        {
            if (!_gates.TryGetValue(key, out var gate) || gate.Handoff is not { } handoff)
            {
                return null;
            }

            gate.Handoff = null;
            return handoff;
        }
    }

    /// <summary>
    /// Leaves the key's gate, handing the next caller <paramref name="handoff"/> when given. A caller that brings none
    /// leaves the one it found untouched: not every user of the gate takes handoffs (the clean-up of a lock request in
    /// doubt enters it only to look at the key), and a place dropped here would stay in the key's queue, locked by our
    /// live session, with nobody of ours behind it: every process that queues after it would wait a whole TTL for its
    /// turn, for as long as that session lives.
    /// </summary>
    public void Exit(string key, QueueHandoff? handoff = null)
    {
        Gate gate;
        QueueHandoff? displaced = null;
        lock (_gates)
        {
            gate = _gates[key];
            if (handoff is not null)
            {
                (displaced, gate.Handoff) = (gate.Handoff, handoff);
            }
        }

        if (displaced is not null)
        {
            onUnusedHandoff?.Invoke(key, displaced);
        }

        Leave(key, gate, release: true);
    }

    private void Leave(string key, Gate gate, bool release)
    {
        if (release)
        {
            gate.Semaphore.Release();
        }

        QueueHandoff? unused = null;
        lock (_gates)
        {
            if (--gate.Users == 0)
            {
                _gates.Remove(key);
                gate.Semaphore.Dispose();
                (unused, gate.Handoff) = (gate.Handoff, null);
            }
        }

        if (unused is not null)
        {
            onUnusedHandoff?.Invoke(key, unused);
        }
    }

    private sealed class Gate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }

        public QueueHandoff? Handoff { get; set; }
    }
}
