namespace ConsulLock.Aop.Engine;

/// <summary>
/// In-process exclusion per key. Consul grants a key again to the session that already holds it, and callers with
/// equal settings share a session, so exclusion among this process's callers is ours to do. Only the caller at the
/// head of a key's queue talks to Consul; the others wait here, which also coalesces many local waiters on one key
/// into one watch. A caller leaving the gate may hand the next one a baton (a place it took for it in the key's queue
/// in Consul); a baton nobody picks up is given to <c>abandoned</c> when the gate empties.
/// </summary>
internal sealed class KeyGates(Action<string, QueuePlace>? abandoned = null)
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

    /// <summary>Takes the baton the previous holder of the gate left, if any; called by the caller inside the gate.</summary>
    public QueuePlace? TakeBaton(string key)
    {
        lock (_gates)
        {
            if (!_gates.TryGetValue(key, out var gate) || gate.Baton is not { } baton)
            {
                return null;
            }

            gate.Baton = null;
            return baton;
        }
    }

    public void Exit(string key, QueuePlace? baton = null)
    {
        Gate gate;
        lock (_gates)
        {
            gate = _gates[key];
            gate.Baton = baton;
        }

        Leave(key, gate, release: true);
    }

    private void Leave(string key, Gate gate, bool release)
    {
        if (release)
        {
            gate.Semaphore.Release();
        }

        QueuePlace? left = null;
        lock (_gates)
        {
            if (--gate.Users == 0)
            {
                _gates.Remove(key);
                gate.Semaphore.Dispose();
                (left, gate.Baton) = (gate.Baton, null);
            }
        }

        if (left is not null)
        {
            abandoned?.Invoke(key, left);
        }
    }

    private sealed class Gate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }

        public QueuePlace? Baton { get; set; }
    }
}

/// <summary>A place taken in a key's queue in Consul for the next caller of this process (see <see cref="LockQueue"/>).</summary>
/// <param name="Entry">The queue entry's key.</param>
/// <param name="Session">The session the entry is locked with.</param>
/// <param name="ModifyIndex">The entry's index as written, so that removing an unused place never touches a newer one.</param>
/// <param name="Entries">The queue as read when the place was taken.</param>
internal sealed record QueuePlace(string Entry, string Session, ulong ModifyIndex, List<Consul.KvEntry> Entries);
