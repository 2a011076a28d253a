using System.Collections.Concurrent;

namespace ConsulLock.Aop.Engine;

/// <summary>The handles given out and not released yet, so that provider disposal can report and release them.</summary>
internal sealed class HeldLocks
{
    private readonly ConcurrentDictionary<LockHandle, byte> _handles = new();

    public void Add(LockHandle handle) => _handles.TryAdd(handle, 0);

    /// <summary>False when it was not held any more (disposal took it).</summary>
    public bool TryRemove(LockHandle handle) => _handles.TryRemove(handle, out _);

    public LockHandle[] Snapshot() => [.. _handles.Keys];
}
