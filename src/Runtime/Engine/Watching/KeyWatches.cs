using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Watches single keys, never folders, so that what a watch costs does not grow with the keys beside it. Each watched
/// key gets a blocking query of its own while watch connections (<see cref="ConsulClient.WatchConnections"/>) last;
/// waiters come first, and a held key gives its connection up to a waiter. Keys beyond that are checked together,
/// 64 to a read-only transaction of <c>check-index</c> operations, every <see cref="ConsulLockOptions.PollInterval"/>,
/// and read only when a check fails. Failures are retried with jittered back-off for as long as anyone subscribes:
/// a watch that fails is not evidence that a lock was lost.
/// </summary>
internal sealed partial class KeyWatches : IAsyncDisposable
{
    private const int MaxOperationsPerTransaction = 64;
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_maxRetry = RetryPolicy.HealNoticedWithin;

    private readonly object _sync = new();
    private readonly Dictionary<string, KeyWatch> _keys = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConsulClient _client;
    private readonly ILogger _logger;
    private readonly TimeSpan _blockingWait;
    private readonly TimeSpan _pollInterval;
    private readonly int _slots;
    private int _dedicated;
    private Task? _poller;
    private bool _disposed;

    private readonly BackgroundWork _loops;

    public KeyWatches(ConsulClient client, ILogger logger, TimeSpan blockingWait, TimeSpan pollInterval)
    {
        _client = client;
        _logger = logger;
        _loops = new BackgroundWork(logger);
        _blockingWait = blockingWait;
        _pollInterval = pollInterval;
        _slots = client.WatchConnections;
    }

    /// <summary>
    /// Tells <paramref name="observer"/> about <paramref name="key"/> whenever an answer at Consul index
    /// <paramref name="minIndex"/> or later arrives, until it returns true or the subscription is disposed.
    /// <paramref name="seen"/> is the entry the subscriber last saw (null: absent or unknown), where a batch check starts.
    /// A watch that was started to <paramref name="linger"/> stays for one more answer after its last subscriber left
    /// (a lock key: its next caller finds it running); a queue entry's watch ends at once, as nobody comes back to it.
    /// </summary>
    public IDisposable Subscribe(string key, ulong minIndex, KvEntry? seen, IKeyObserver observer, bool linger = true)
    {
        var subscription = new Subscription(minIndex, observer);
        KvEntry? judgeNow = null;
        var judge = false;
        KeyWatch watch;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(ConsulLockProvider));
            if (!_keys.TryGetValue(key, out watch!))
            {
                watch = new KeyWatch(this, key) { Entry = seen, Linger = linger };
                _keys.Add(key, watch);
            }

            subscription.Watch = watch;
            watch.Subscriptions.Add(subscription);
            if (watch.HasAnswer && watch.Index >= minIndex)
            {
                // The last answer already covers the subscriber's view; judge it now. The subscription is in the list
                // first, so an answer arriving meanwhile reaches it too: nothing between the two is missed.
                (judge, judgeNow) = (true, watch.Entry);
            }

            Schedule(watch, minIndex);
        }

        if (judge && observer.OnEntry(judgeNow))
        {
            subscription.Dispose();
        }

        return subscription;
    }

    /// <summary>Whether a blocking query already runs on <paramref name="key"/>, so that subscribing costs Consul nothing.</summary>
    public bool IsWatching(string key)
    {
        lock (_sync)
        {
            return _keys.TryGetValue(key, out var watch) && watch.Mode == WatchMode.Dedicated;
        }
    }

    /// <summary>Whether a waiter subscribes to a key that <paramref name="watched"/> accepts (for tests: a waiter blocks on Consul now).</summary>
    internal bool HasWaiterOn(Func<string, bool> watched)
    {
        lock (_sync)
        {
            return _keys.Values.Any(w => w.HasWaiter && watched(w.Key));
        }
    }

    /// <summary>How many keys have a blocking query of their own, and how many are checked in batches (for tests).</summary>
    internal (int Dedicated, int Polled) Counts
    {
        get
        {
            lock (_sync)
            {
                return (_dedicated, _keys.Values.Count(w => w.Mode == WatchMode.Polled));
            }
        }
    }

    /// <summary>Ends every watch; waiters still subscribed get <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Subscription[] all;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            all = [.. _keys.Values.SelectMany(w => w.Subscriptions)];
            _keys.Clear();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        var disposed = new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed.");
        foreach (var subscription in all)
        {
            subscription.Observer.OnFailure(disposed);
        }

        // The loops end at the stop token; a loop never ends by an exception (each catches what it did not expect).
        await _loops.WhenDoneAsync(Timeout.InfiniteTimeSpan).ConfigureAwait(false);
    }

    /// <summary>Gives <paramref name="watch"/> a blocking query of its own when one is free (or can be freed), else a batch check.</summary>
    private void Schedule(KeyWatch watch, ulong minIndex)
    {
        if (watch.Mode == WatchMode.Dedicated)
        {
            return;
        }

        if (_dedicated < _slots || TryFreeSlot(forWaiter: watch.HasWaiter))
        {
            StartDedicated(watch, watch.HasAnswer ? watch.Index : minIndex);
            return;
        }

        if (watch.Mode != WatchMode.Polled)
        {
            watch.Mode = WatchMode.Polled;
            _poller ??= _loops.Track(Task.Run(PollLoopAsync));
        }
    }

    /// <summary>Frees a watch connection: from a watch nobody subscribes to any more, else (for a waiter) from a held key.</summary>
    private bool TryFreeSlot(bool forWaiter)
    {
        KeyWatch? victim = null;
        foreach (var candidate in _keys.Values)
        {
            if (candidate.Mode != WatchMode.Dedicated)
            {
                continue;
            }

            if (candidate.Subscriptions.Count == 0)
            {
                victim = candidate;
                break;
            }

            if (forWaiter && !candidate.HasWaiter)
            {
                victim ??= candidate;
            }
        }

        if (victim is null)
        {
            return false;
        }

        StopDedicated(victim);
        if (victim.Subscriptions.Count == 0)
        {
            _keys.Remove(victim.Key);
        }
        else
        {
            victim.Mode = WatchMode.Polled;
            _poller ??= _loops.Track(Task.Run(PollLoopAsync));
        }

        return true;
    }

    private void StartDedicated(KeyWatch watch, ulong index)
    {
        watch.Mode = WatchMode.Dedicated;
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        watch.LoopStop = stop;
        _dedicated++;
        _loops.Run(async () =>
        {
            using (stop)
            {
                await WatchLoopAsync(watch, index, stop.Token).ConfigureAwait(false);
            }
        });
    }

    private void StopDedicated(KeyWatch watch)
    {
        // The loop owns (and disposes) its token source; cancelling ends its request, which closes that connection.
        watch.LoopStop?.Cancel();
        watch.LoopStop = null;
        watch.Mode = WatchMode.None;
        _dedicated--;
    }

    /// <summary>One key's blocking query, until nobody subscribes, the watch is moved to batch checks, or disposal.</summary>
    private async Task WatchLoopAsync(KeyWatch watch, ulong index, CancellationToken stop)
    {
        var backoff = new Backoff(s_firstRetry, s_maxRetry);
        // The highest index Consul is known to have reached; a look at index 0 after a failure keeps it.
        var floor = index;
        // Set when an answer came below the floor: the next look is a consistent read, which tells a Consul that
        // lost its data from a server that answered from behind (an election, a restart).
        var confirm = false;
        while (!stop.IsCancellationRequested)
        {
            lock (_sync)
            {
                if (watch.Subscriptions.Count == 0 && (watch.IdleAnswers > 0 || !watch.Linger))
                {
                    // Stayed for one answer after the last subscriber left (a caller that locks again soon finds it
                    // running); now give the connection back.
                    if (watch.Mode == WatchMode.Dedicated && watch.LoopStop is { } current && current.Token == stop)
                    {
                        StopDedicated(watch);
                        _keys.Remove(watch.Key);
                        PromotePolled();
                    }

                    return;
                }
            }

            KvQueryResult result;
            try
            {
                result = await _client.GetKeyAsync(watch.Key, recurse: false, confirm ? 0 : index, _blockingWait, consistent: confirm, stop).ConfigureAwait(false);
                backoff.Reset();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Any failure, expected or not, is retried: a watch loop ends only when nobody needs it.
                Failed(watch, ex);
                try
                {
                    await Task.Delay(backoff.Next(), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                // Consul may have restarted meanwhile, perhaps with its data lost: look at once rather than block on an
                // index it may never reach again; the answer shows whether the index went backwards.
                index = 0;
                continue;
            }

            if (Deliver(watch, result, floor, confirmed: confirm) is not { } next)
            {
                confirm = true;
                continue;
            }

            confirm = false;
            index = floor = next;
        }
    }

    /// <summary>Checks the keys that have no blocking query of their own, in batches, every poll interval.</summary>
    private async Task PollLoopAsync()
    {
        var stop = _stop.Token;
        var backoff = new Backoff(s_firstRetry, s_maxRetry);
        while (!stop.IsCancellationRequested)
        {
            KeyWatch[] polled;
            lock (_sync)
            {
                PromotePolled();
                polled = [.. _keys.Values.Where(w => w.Mode == WatchMode.Polled)];
                if (polled.Length == 0)
                {
                    _poller = null;
                    return;
                }
            }

            var failed = false;
            foreach (var batch in polled.Chunk(MaxOperationsPerTransaction))
            {
                try
                {
                    await CheckBatchAsync(batch, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    failed = true;
                    foreach (var watch in batch)
                    {
                        Failed(watch, ex);
                    }
                }
            }

            try
            {
                await Task.Delay(failed ? backoff.Next() + _pollInterval : _pollInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (!failed)
            {
                backoff.Reset();
            }
        }
    }

    /// <summary>One read-only transaction of index checks; a key whose check fails (or whose state is unknown) is read.</summary>
    private async Task CheckBatchAsync(KeyWatch[] batch, CancellationToken stop)
    {
        var changed = new List<KeyWatch>();
        var checks = new List<TxnOperation>(batch.Length);
        var checkedWatches = new List<KeyWatch>(batch.Length);
        foreach (var watch in batch)
        {
            if (watch.Entry is { } entry)
            {
                checks.Add(TxnOperation.CheckIndex(watch.Key, entry.ModifyIndex));
                checkedWatches.Add(watch);
            }
            else
            {
                changed.Add(watch);
            }
        }

        if (checks.Count > 0)
        {
            var answer = await _client.TransactAsync(checks, checkedWatches[0].Key, "check held and awaited keys", stop).ConfigureAwait(false);
            foreach (var error in answer.Errors ?? [])
            {
                if (error.OpIndex >= 0 && error.OpIndex < checkedWatches.Count)
                {
                    changed.Add(checkedWatches[error.OpIndex]);
                }
            }
        }

        foreach (var watch in changed)
        {
            var floor = watch.Entry?.ModifyIndex ?? 0;
            var result = await _client.GetKeyAsync(watch.Key, recurse: false, 0, default, consistent: false, stop).ConfigureAwait(false);
            if (Deliver(watch, result, floor, confirmed: false) is null)
            {
                result = await _client.GetKeyAsync(watch.Key, recurse: false, 0, default, consistent: true, stop).ConfigureAwait(false);
                Deliver(watch, result, floor, confirmed: true);
            }
        }
    }

    /// <summary>Gives waiting batch-checked keys (waiters first) the watch connections that are free.</summary>
    private void PromotePolled()
    {
        while (_dedicated < _slots)
        {
            var next = _keys.Values.Where(w => w.Mode == WatchMode.Polled && w.Subscriptions.Count > 0)
                .OrderByDescending(w => w.HasWaiter).FirstOrDefault();
            if (next is null)
            {
                return;
            }

            StartDedicated(next, next.HasAnswer ? next.Index : 0);
        }
    }

    /// <summary>
    /// Records an answer and tells the subscribers it covers; returns the index to block on next. <paramref name="floor"/>
    /// is an index Consul had already reached when the request was made (the index blocked on, or the key's last
    /// ModifyIndex): an answer below it means Consul's index went backwards, or that a server answered from behind.
    /// Such an answer is believed only when <paramref name="confirmed"/> (a consistent read); otherwise nothing is
    /// recorded and null asks the caller for that read, so that a stale answer never reports a false loss.
    /// </summary>
    private ulong? Deliver(KeyWatch watch, KvQueryResult result, ulong floor, bool confirmed)
    {
        var entry = result.Entries.FirstOrDefault(e => e.Key == watch.Key);
        Subscription[] due;
        lock (_sync)
        {
            // Consul's index can go backwards (a snapshot restore, a new leader after data loss): then this answer is
            // news to every subscriber, whatever index it subscribed at, and blocking starts over from it.
            var wentBack = result.Index < Math.Max(floor, watch.HasAnswer ? watch.Index : 0);
            if (wentBack && !confirmed)
            {
                return null;
            }

            if (wentBack)
            {
                Log.IndexWentBackwards(_logger, watch.Key, watch.Index, result.Index);
            }

            watch.Index = result.Index;
            watch.Entry = entry;
            watch.HasAnswer = true;
            watch.IdleAnswers = watch.Subscriptions.Count == 0 ? watch.IdleAnswers + 1 : 0;
            due = [.. watch.Subscriptions.Where(s => wentBack || s.MinIndex <= result.Index)];
        }

        foreach (var subscription in due)
        {
            if (subscription.Observer.OnEntry(entry))
            {
                subscription.Dispose();
            }
        }

        // Consul documents an index of 0 as "start over"; never block on it.
        return result.Index == 0 ? 1 : result.Index;
    }

    /// <summary>A watch request failed: retried by the loop; observers learn only of permanent failures (Consul refused).</summary>
    private void Failed(KeyWatch watch, Exception exception)
    {
        Log.WatchFailed(_logger, watch.Key, exception);
        if (exception is not ConsulLockException refused || ConsulClient.IsTransient(refused))
        {
            return;
        }

        Subscription[] subscriptions;
        lock (_sync)
        {
            subscriptions = [.. watch.Subscriptions];
        }

        foreach (var subscription in subscriptions)
        {
            if (subscription.Observer.OnFailure(refused))
            {
                subscription.Dispose();
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_sync)
        {
            if (subscription.Watch is not { } watch || !watch.Subscriptions.Remove(subscription) || watch.Subscriptions.Count > 0)
            {
                return;
            }

            if (watch.Mode != WatchMode.Dedicated)
            {
                // Batch-checked or not yet scheduled: nothing runs for it any more.
                watch.Mode = WatchMode.None;
                if (_keys.TryGetValue(watch.Key, out var current) && current == watch)
                {
                    _keys.Remove(watch.Key);
                }
            }
        }
    }

    private enum WatchMode
    {
        None,
        Dedicated,
        Polled,
    }

    private sealed class KeyWatch(KeyWatches owner, string key)
    {
        public KeyWatches Owner { get; } = owner;

        public string Key { get; } = key;

        public List<Subscription> Subscriptions { get; } = [];

        public WatchMode Mode { get; set; }

        public CancellationTokenSource? LoopStop { get; set; }

        /// <summary>Consul's index of the last answer: where the next blocking query starts.</summary>
        public ulong Index { get; set; }

        /// <summary>The key as last seen; its ModifyIndex is what a batch check compares.</summary>
        public KvEntry? Entry { get; set; }

        public bool HasAnswer { get; set; }

        public int IdleAnswers { get; set; }

        /// <summary>Whether the watch stays for one answer after its last subscriber left.</summary>
        public bool Linger { get; init; } = true;

        public bool HasWaiter => Subscriptions.Exists(s => s.Observer.Priority == WatchPriority.Waiting);
    }

    private sealed class Subscription(ulong minIndex, IKeyObserver observer) : IDisposable
    {
        public ulong MinIndex { get; } = minIndex;

        public IKeyObserver Observer { get; } = observer;

        public KeyWatch? Watch { get; set; }

        public void Dispose() => Watch?.Owner.Remove(this);
    }
}
