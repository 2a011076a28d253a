using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using ConsulLock.Aop.Consul;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// <see cref="IConsulLockProvider.GetHolderAsync"/> and <see cref="IConsulLockProvider.WatchHolderAsync"/> on the
/// engine's parts: the key is watched by <see cref="KeyWatches"/> (blocking queries shared with the engine's own
/// waiters and held locks, transient failures retried, an index that goes backwards re-read and re-delivered), and each
/// read that describes a holder is retried on transient failures by <see cref="Retry"/>. The watch reports a change
/// when the key's holder or grant changes (session or fencing token), in the order Consul made them; holders that came
/// and went between two answers of Consul are not seen, as with any watch of a key.
/// </summary>
internal sealed class HolderWatch(ConsulClient client, KeyWatches watches, Disposal disposal, ILogger logger)
{
    private readonly HolderReader _reader = new(client);

    public HolderReader Reader => _reader;

    /// <summary>The holder of <paramref name="key"/> now; transient failures are retried for one request timeout.</summary>
    public Task<ConsulLockHolder?> GetAsync(string key, CancellationToken cancellationToken) =>
        RetryingAsync(key, () => _reader.ReadAsync(key, cancellationToken), client.RequestTimeout, cancellationToken);

    /// <summary>The holder of <paramref name="key"/> now, then each change, until <paramref name="cancellationToken"/> fires.</summary>
    public async IAsyncEnumerable<ConsulLockHolder?> WatchAsync(string key, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, disposal.Token);
        var token = stop.Token;
        var (entry, index) = await RetryingAsync(key, () => client.ReadKeyAsync(key, token), budget: null, token, cancellationToken).ConfigureAwait(false);
        var observer = new HolderChanges(entry);
        yield return await DescribeAsync(key, entry, token, cancellationToken).ConfigureAwait(false);

        using (watches.Subscribe(key, Math.Max(index, 1), entry, observer, linger: false))
        {
            while (true)
            {
                KvEntry? next;
                try
                {
                    if (!await observer.Changes.WaitToReadAsync(token).ConfigureAwait(false))
                    {
                        yield break;
                    }

                    if (!observer.Changes.TryRead(out next))
                    {
                        continue;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && disposal.HasStarted)
                {
                    throw new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed while the holder was watched.");
                }

                yield return await DescribeAsync(key, next, token, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private Task<ConsulLockHolder?> DescribeAsync(string key, KvEntry? entry, CancellationToken token, CancellationToken callerToken) =>
        entry?.Session is not { Length: > 0 }
            ? Task.FromResult<ConsulLockHolder?>(null)
            : RetryingAsync(
                key,
                async () => await _reader.DescribeAsync(key, entry, await _reader.ReadQueueAsync(key, token).ConfigureAwait(false), token).ConfigureAwait(false),
                budget: null, token, callerToken);

    private Task<T> RetryingAsync<T>(string key, Func<Task<T>> read, TimeSpan? budget, CancellationToken token) =>
        RetryingAsync(key, read, budget, token, token);

    /// <summary>
    /// Runs <paramref name="read"/> until it succeeds, retrying transient failures within <paramref name="budget"/> (none:
    /// until <paramref name="token"/> fires); a permanent failure, or the last one when the budget ran out, is thrown.
    /// </summary>
    private async Task<T> RetryingAsync<T>(string key, Func<Task<T>> read, TimeSpan? budget, CancellationToken token, CancellationToken callerToken)
    {
        T result = default!;
        Exception? last = null;
        var outcome = await Retry.UntilDoneAsync(
            async () =>
            {
                result = await read().ConfigureAwait(false);
                return true;
            },
            RetryPolicy.Prompt with { Budget = budget },
            ex =>
            {
                last = ex;
                Telemetry.Log.WatchFailed(logger, key, ex);
            },
            static () => true,
            token).ConfigureAwait(false);
        if (outcome == RetryOutcome.Done)
        {
            return result;
        }

        callerToken.ThrowIfCancellationRequested();
        if (disposal.HasStarted)
        {
            throw new ObjectDisposedException(nameof(ConsulLockProvider), "The lock provider was disposed.");
        }

        ExceptionDispatchInfo.Throw(last ?? new ConsulLockException($"Could not read the holder of '{key}'.", key, null, null));
        return default;
    }

    /// <summary>Receives the key's entries from the watch and passes on those that show another holder or grant, in order.</summary>
    private sealed class HolderChanges(KvEntry? first) : IKeyObserver
    {
        private readonly Channel<KvEntry?> _changes = Channel.CreateUnbounded<KvEntry?>(new UnboundedChannelOptions { SingleReader = true });
        private (string? Session, ulong Grant) _last = IdentityOf(first);

        public ChannelReader<KvEntry?> Changes => _changes.Reader;

        // A watcher is not waiting for the key: it gives its blocking query up to a waiter when connections run short.
        public WatchPriority Priority => WatchPriority.Held;

        public bool OnEntry(KvEntry? entry)
        {
            lock (_changes)
            {
                var identity = IdentityOf(entry);
                if (identity != _last)
                {
                    _last = identity;
                    _changes.Writer.TryWrite(entry);
                }
            }

            return false;
        }

        public bool OnFailure(Exception exception)
        {
            _changes.Writer.TryComplete(exception);
            return true;
        }

        // Free (absent, or present with no session) is one state, whatever its index.
        private static (string? Session, ulong Grant) IdentityOf(KvEntry? entry) =>
            entry?.Session is { Length: > 0 } session ? (session, entry.ModifyIndex) : (null, 0);
    }
}
