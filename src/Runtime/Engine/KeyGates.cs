namespace ConsulLock.Aop.Engine;

/// <summary>
/// In-process exclusion per key. Consul grants a key again to the session that already holds it, and callers with
/// equal settings share a session, so exclusion among this process's callers is ours to do. Only the caller at the
/// head of a key's queue talks to Consul; the others wait here, which also coalesces many local waiters on one key
/// into one watch.
/// </summary>
internal sealed class KeyGates
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

    public void Exit(string key)
    {
        Gate gate;
        lock (_gates)
        {
            gate = _gates[key];
        }

        Leave(key, gate, release: true);
    }

    private void Leave(string key, Gate gate, bool release)
    {
        if (release)
        {
            gate.Semaphore.Release();
        }

        lock (_gates)
        {
            if (--gate.Users == 0)
            {
                _gates.Remove(key);
                gate.Semaphore.Dispose();
            }
        }
    }

    private sealed class Gate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }
    }
}
