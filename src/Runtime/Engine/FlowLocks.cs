using System.Collections.Immutable;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// The keys the current async flow holds or is acquiring, per provider, so that asking again for a held key fails at
/// once instead of deadlocking. A marker is added synchronously, before the acquire's first await, so it flows into
/// everything the caller does next; it is switched off (not removed) on release, because an async method's
/// changes to an <see cref="AsyncLocal{T}"/> do not flow back to its caller.
/// </summary>
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

    internal sealed class Marker(object provider, string key)
    {
        private volatile bool _active = true;

        public object Provider { get; } = provider;

        public string Key { get; } = key;

        public bool IsActive => _active;

        public void Exit() => _active = false;
    }
}
