using System.Collections.Immutable;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The keys the current async flow holds or is acquiring, per provider, so that asking again for a held key fails at
/// once instead of deadlocking. A marker is added synchronously, before the acquire's first await, so it flows into
/// everything the caller does next; it is switched off (not removed) on release, because an async method's
/// changes to an <see cref="AsyncLocal{T}"/> do not flow back to its caller.
/// </summary>
/// <remarks>
/// Being an <see cref="AsyncLocal{T}"/>, the set flows into every task the holder starts while it holds a key
/// (<c>Task.Run</c>, <c>Task.WhenAll</c> children, timers): they are the same flow. <see cref="Separate"/> opts a child
/// out; <c>ExecutionContext.SuppressFlow()</c> does too, but drops every other async-local (activity, log scopes).
/// </remarks>
internal static class FlowLocks
{
    private static readonly AsyncLocal<ImmutableList<Marker>> s_held = new();

    public static Marker Enter(object provider, string key)
    {
        var held = s_held.Value ?? [];
        foreach (var marker in held)
        {
            if (marker.IsActive && ReferenceEquals(marker.Provider, provider) && marker.Key == key)
            {
                throw new ConsulLockReentrancyException(key);
            }
        }

        var entered = new Marker(provider, key);
        s_held.Value = held.RemoveAll(m => !m.IsActive).Add(entered);
        return entered;
    }

    /// <summary>
    /// Until the returned scope is disposed, the current flow counts as holding no key, so work it starts (a
    /// <c>Task.Run</c>) is a flow of its own: asking for a key the parent holds waits for it instead of failing.
    /// Disposal restores the parent's keys, plus any it acquired inside the scope.
    /// </summary>
    public static IDisposable Separate()
    {
        var outer = s_held.Value ?? [];
        s_held.Value = [];
        return new SeparateScope(outer);
    }

    private sealed class SeparateScope(ImmutableList<Marker> outer) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            var inside = s_held.Value ?? [];
            s_held.Value = outer.RemoveAll(m => !m.IsActive).AddRange(inside.Where(m => m.IsActive));
        }
    }

    internal sealed class Marker(object provider, string key)
    {
        private volatile bool _active = true;

        public object Provider { get; } = provider;

        public string Key { get; } = key;

        public bool IsActive => _active;

        public void Exit() => _active = false;
    }
}
