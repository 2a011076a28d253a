using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Reads who holds lock keys (CONTRACT.md section 8): one key (<see cref="ReadAsync"/>: the key, its queue and its
/// holder's session, three small reads whose cost does not depend on the keys beside it), or every held lock key under a
/// prefix (<see cref="ListAsync"/>: one recursive read and one session list, for an operator's tool). It only reads;
/// <see cref="ForceReleaseAsync"/> is the one operator action, and it is explicit.
/// </summary>
/// <remarks>
/// Needs the ACL permissions <c>key read</c> on the keys and <c>session read</c> (a token without the latter sees no
/// session, so the holder comes without its node and, for a holder that wrote no document, named by its session id).
/// </remarks>
internal sealed class HolderReader(ConsulClient client)
{
    /// <summary>The holder of <paramref name="key"/> (a full key) now; null when nobody holds it. One attempt: errors propagate.</summary>
    public async Task<ConsulLockHolder?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var reading = client.ReadKeyAsync(key, cancellationToken);
        var queue = ReadQueueAsync(key, cancellationToken);
        await Task.WhenAll(reading, queue).ConfigureAwait(false);
        return await DescribeAsync(key, reading.Result.Entry, queue.Result, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The entries of <paramref name="key"/>'s queue (see <see cref="QueueLayout"/>).</summary>
    public async Task<IReadOnlyList<KvEntry>> ReadQueueAsync(string key, CancellationToken cancellationToken) =>
        (await client.GetKeyAsync(QueueLayout.Folder(key), recurse: true, 0, default, consistent: false, cancellationToken).ConfigureAwait(false)).Entries;

    /// <summary>
    /// The holder that <paramref name="entry"/> (the key as read; null: absent) shows, with the waiters in
    /// <paramref name="queue"/> (the key's queue entries) and the session read now; null when nobody holds it.
    /// </summary>
    public async Task<ConsulLockHolder?> DescribeAsync(string key, KvEntry? entry, IReadOnlyList<KvEntry> queue, CancellationToken cancellationToken)
    {
        if (entry?.Session is not { Length: > 0 } sessionId)
        {
            return null;
        }

        SessionEntry? session;
        try
        {
            session = await client.ReadSessionAsync(sessionId, cancellationToken).ConfigureAwait(false);
        }
        catch (ConsulLockException ex) when (ex.StatusCode == 403)
        {
            // Without 'session read' the holder is still known, only less well.
            session = null;
        }

        return Describe(key, entry, session, CountWaiters(queue, sessionId));
    }

    /// <summary>
    /// Every held lock key whose name starts with <paramref name="prefix"/> (Consul's prefix match: <c>"orders"</c> also
    /// covers <c>"orders-eu/1"</c>; end it with <c>/</c> for a folder), sorted by key. Keys that are not locks (data,
    /// semaphores, queue entries) are left out.
    /// </summary>
    public async Task<IReadOnlyList<ConsulLockHolder>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var all = (await client.GetKeyAsync(prefix, recurse: true, 0, default, consistent: false, cancellationToken).ConfigureAwait(false)).Entries;
        var held = all.Where(e => e.Session is { Length: > 0 } && LockKeyFormat.IsLockKey(e) && !IsQueueEntry(e.Key)).ToList();
        if (held.Count == 0)
        {
            return [];
        }

        IReadOnlyList<SessionEntry> sessions;
        try
        {
            sessions = await client.ListSessionsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ConsulLockException ex) when (ex.StatusCode == 403)
        {
            sessions = [];
        }

        var sessionsById = new Dictionary<string, SessionEntry>(StringComparer.Ordinal);
        foreach (var session in sessions)
        {
            sessionsById[session.ID] = session;
        }

        // Queue entries by the key they queue for: "<key>/.consullock-queue/<session>".
        var queues = new Dictionary<string, List<KvEntry>>(StringComparer.Ordinal);
        var marker = "/" + QueueLayout.Segment + "/";
        foreach (var entry in all)
        {
            var at = entry.Key.LastIndexOf(marker, StringComparison.Ordinal);
            if (at > 0 && entry.Key.IndexOf('/', at + marker.Length) < 0)
            {
                var owner = entry.Key[..at];
                if (!queues.TryGetValue(owner, out var list))
                {
                    queues[owner] = list = [];
                }

                list.Add(entry);
            }
        }

        return [.. held
            .Select(e => Describe(e.Key, e, sessionsById.GetValueOrDefault(e.Session!), CountWaiters(queues.GetValueOrDefault(e.Key) ?? [], e.Session!)))
            .OrderBy(h => h.Key, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Destroys the session that holds <paramref name="key"/> (an operator's forced release): Consul releases every key
    /// that session holds and applies the session's lock-delay to them; a holder of this library sees its lost-token fire.
    /// Returns the holder it ended; null when nobody held the key.
    /// </summary>
    public async Task<ConsulLockHolder?> ForceReleaseAsync(string key, CancellationToken cancellationToken)
    {
        if (await ReadAsync(key, cancellationToken).ConfigureAwait(false) is not { } holder)
        {
            return null;
        }

        await client.DestroySessionAsync(holder.SessionId, cancellationToken).ConfigureAwait(false);
        return holder;
    }

    /// <summary>The holder shown by a held <paramref name="entry"/>; its session (null: unknown) names it when no document does.</summary>
    public static ConsulLockHolder Describe(string key, KvEntry entry, SessionEntry? session, int waiters)
    {
        var sessionId = entry.Session!;
        var document = HolderDocument.TryRead(entry.Value);
        var instance = document?.Instance
            ?? NonEmpty(session?.Name)
            ?? NonEmpty(session?.Node)
            ?? sessionId;
        return new ConsulLockHolder(key, instance, sessionId, NonEmpty(session?.Node), document?.Acquired, entry.ModifyIndex, document?.TraceParent, waiters);
    }

    /// <summary>Processes queued for a key: live entries (their session holds them) other than the holder's own.</summary>
    public static int CountWaiters(IEnumerable<KvEntry> queue, string? holderSession) =>
        queue.Count(e => e.Session is { Length: > 0 } s && !string.Equals(s, holderSession, StringComparison.Ordinal) && IsQueueEntry(e.Key));

    private static bool IsQueueEntry(string key) => key.Contains("/" + QueueLayout.Segment + "/", StringComparison.Ordinal);

    private static string? NonEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
