using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>Receives what a watch sees of one key.</summary>
internal interface IKeyObserver
{
    /// <summary>The key's entry (null when absent) as of a Consul index at or past the subscription's; true ends the subscription.</summary>
    bool OnEntry(KvEntry? entry);

    /// <summary>The watch failed beyond its retries; the subscription has ended.</summary>
    void OnError(ConsulLockException exception);
}

/// <summary>
/// Blocking-query watches shared per folder: every waiter and every held lock whose keys share a parent folder is
/// served by one long poll on that folder. Consul limits connections per client address (200 by default), so one
/// long poll per held key would not scale to thousands of locks.
/// </summary>
internal sealed class KeyWatches : IAsyncDisposable
{
    private readonly Dictionary<string, FolderWatch> _folders = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConsulClient _client;
    private readonly ILogger _logger;
    private readonly TimeSpan _blockingWait;

    public KeyWatches(ConsulClient client, ILogger logger, TimeSpan blockingWait)
    {
        _client = client;
        _logger = logger;
        _blockingWait = blockingWait;
    }

    /// <summary>
    /// Tells <paramref name="observer"/> about <paramref name="key"/> whenever a watch answer at Consul index
    /// <paramref name="minIndex"/> or later arrives, until it returns true or the subscription is disposed.
    /// </summary>
    public IDisposable Subscribe(string key, ulong minIndex, IKeyObserver observer)
    {
        var prefix = FolderOf(key);
        while (true)
        {
            FolderWatch watch;
            lock (_folders)
            {
                ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, typeof(ConsulLockProvider));
                if (!_folders.TryGetValue(prefix, out watch!))
                {
                    watch = new FolderWatch(this, prefix);
                    _folders.Add(prefix, watch);
                    watch.Start();
                }
            }

            if (watch.TryAdd(key, minIndex, observer) is { } subscription)
            {
                return subscription;
            }
        }
    }

    /// <summary>Whether a watch already runs on the folder of <paramref name="key"/>, so that subscribing costs nothing.</summary>
    public bool IsWatching(string key)
    {
        lock (_folders)
        {
            return _folders.ContainsKey(FolderOf(key));
        }
    }

    /// <summary>Whether someone (a waiter or a held lock) is subscribed to <paramref name="key"/> now.</summary>
    public bool HasSubscriber(string key)
    {
        FolderWatch? watch;
        lock (_folders)
        {
            _folders.TryGetValue(FolderOf(key), out watch);
        }

        return watch?.HasSubscriber(key) ?? false;
    }

    public async ValueTask DisposeAsync()
    {
        FolderWatch[] watches;
        lock (_folders)
        {
            watches = [.. _folders.Values];
            _folders.Clear();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(watches.Select(w => w.Completion)).ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>The folder a key's watch covers: up to its last '/', or the key itself at the top level.</summary>
    internal static string FolderOf(string key)
    {
        var slash = key.LastIndexOf('/');
        return slash < 0 ? key : key[..(slash + 1)];
    }

    private bool TryRetire(FolderWatch watch)
    {
        lock (_folders)
        {
            if (!watch.TryClose())
            {
                return false;
            }

            if (_folders.TryGetValue(watch.Prefix, out var current) && current == watch)
            {
                _folders.Remove(watch.Prefix);
            }

            return true;
        }
    }

    private sealed class FolderWatch(KeyWatches owner, string prefix)
    {
        private const int MaxConsecutiveFailures = 5;
        private readonly List<Subscription> _subscriptions = [];
        private Dictionary<string, KvEntry>? _snapshot;
        private ulong _index;
        private bool _closed;

        public string Prefix { get; } = prefix;

        public Task Completion { get; private set; } = Task.CompletedTask;

        public void Start() => Completion = Task.Run(LoopAsync);

        public Subscription? TryAdd(string key, ulong minIndex, IKeyObserver observer)
        {
            KvEntry? current;
            var subscription = new Subscription(this, key, minIndex, observer);
            lock (_subscriptions)
            {
                if (_closed)
                {
                    return null;
                }

                if (_snapshot is null || _index < minIndex)
                {
                    _subscriptions.Add(subscription);
                    return subscription;
                }

                current = _snapshot.GetValueOrDefault(key);
            }

            // The last answer already covers the subscriber's index: judge it now rather than after the next change.
            if (!observer.OnEntry(current))
            {
                lock (_subscriptions)
                {
                    if (_closed)
                    {
                        return null;
                    }

                    _subscriptions.Add(subscription);
                }
            }

            return subscription;
        }

        public bool HasSubscriber(string key)
        {
            lock (_subscriptions)
            {
                return _subscriptions.Exists(s => s.Key == key);
            }
        }

        public bool TryClose()
        {
            lock (_subscriptions)
            {
                if (_subscriptions.Count > 0)
                {
                    return false;
                }

                _closed = true;
                return true;
            }
        }

        public void Remove(Subscription subscription)
        {
            lock (_subscriptions)
            {
                _subscriptions.Remove(subscription);
            }
        }

        private async Task LoopAsync()
        {
            var failures = 0;
            var idleRounds = 0;
            var stop = owner._stop.Token;
            while (!stop.IsCancellationRequested)
            {
                int count;
                lock (_subscriptions)
                {
                    count = _subscriptions.Count;
                }

                // Stay for one more answer after the last subscriber leaves: a caller that locks again soon (the
                // common loop) then finds the watch already running and costs Consul no extra read.
                idleRounds = count == 0 ? idleRounds + 1 : 0;
                if (idleRounds > 1 && owner.TryRetire(this))
                {
                    return;
                }

                KvQueryResult result;
                try
                {
                    result = await owner._client.GetKeyAsync(Prefix, recurse: true, _index, owner._blockingWait, consistent: false, stop).ConfigureAwait(false);
                    failures = 0;
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (ConsulLockException ex)
                {
                    Log.WatchFailed(owner._logger, Prefix, ex);
                    if (++failures >= MaxConsecutiveFailures)
                    {
                        FailAll(ex);
                        failures = 0;
                    }

                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(100 << Math.Min(failures, 4)), stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    continue;
                }

                // Consul's index can go backwards (a snapshot restore, a leader change); start over from zero then.
                var index = result.Index < _index ? 0 : result.Index;
                var snapshot = result.Entries.ToDictionary(e => e.Key, StringComparer.Ordinal);
                Subscription[] due;
                lock (_subscriptions)
                {
                    _index = index;
                    _snapshot = snapshot;
                    due = _subscriptions.Where(s => index >= s.MinIndex).ToArray();
                }

                foreach (var subscription in due)
                {
                    if (subscription.Observer.OnEntry(snapshot.GetValueOrDefault(subscription.Key)))
                    {
                        Remove(subscription);
                    }
                }

                if (_index == 0)
                {
                    _index = 1;
                }
            }

            lock (_subscriptions)
            {
                _closed = true;
            }
        }

        private void FailAll(ConsulLockException exception)
        {
            Subscription[] all;
            lock (_subscriptions)
            {
                all = [.. _subscriptions];
                _subscriptions.Clear();
            }

            foreach (var subscription in all)
            {
                subscription.Observer.OnError(exception);
            }
        }
    }

    private sealed class Subscription(FolderWatch watch, string key, ulong minIndex, IKeyObserver observer) : IDisposable
    {
        public string Key { get; } = key;

        public ulong MinIndex { get; } = minIndex;

        public IKeyObserver Observer { get; } = observer;

        public void Dispose() => watch.Remove(this);
    }
}
