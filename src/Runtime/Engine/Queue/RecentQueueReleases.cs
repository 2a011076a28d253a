using System.Collections.Concurrent;
using System.Diagnostics;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Keys that this process released a moment ago while other processes waited for them (it held them through the
/// queue, or its release saw entries in the queue). Such a key is contended: the next local caller takes a place in its
/// queue before trying, rather than slipping in ahead of the processes already waiting while the next of them takes
/// the key.
/// </summary>
internal sealed class RecentQueueReleases
{
    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, long> _releasedAt = new(StringComparer.Ordinal);

    /// <summary>Remembers that a contended lock was released.</summary>
    public void Note(string key)
    {
        if (_releasedAt.Count >= 4096)
        {
            foreach (var old in _releasedAt.Where(p => Stopwatch.GetElapsedTime(p.Value) >= s_window).ToArray())
            {
                _releasedAt.TryRemove(old);
            }
        }

        _releasedAt[key] = Stopwatch.GetTimestamp();
    }

    /// <summary>Whether <paramref name="key"/> was released contended within the last second; the record is used up.</summary>
    public bool TakeIfRecent(string key) =>
        _releasedAt.TryRemove(key, out var at) && Stopwatch.GetElapsedTime(at) < s_window;
}
