namespace ConsulLock.Aop;

/// <summary>
/// Who holds a lock key now, as <see cref="IConsulLockProvider.GetHolderAsync"/> and
/// <see cref="IConsulLockProvider.WatchHolderAsync"/> report it: read from the key's value (the small JSON document a
/// holder of this library writes with its lock request), the holder's Consul session and the key's wait queue.
/// </summary>
/// <param name="Key">The full key in Consul (<see cref="ConsulLockOptions.KeyPrefix"/> included), as handles name it.</param>
/// <param name="InstanceName">
/// The holder's <see cref="ConsulLockOptions.InstanceName"/>. For a holder that wrote no document (Consul's Go client,
/// <c>consul lock</c>, or a value that is not ours): its session's name, else its node, else its session id.
/// </param>
/// <param name="SessionId">The Consul session that holds the key. Destroying it releases every key it holds.</param>
/// <param name="Node">The Consul node the session belongs to; null when the session was gone by the time it was read.</param>
/// <param name="AcquiredAt">When the holder sent its lock request, by its own clock; null for a holder that wrote no document.</param>
/// <param name="FencingToken">The key's ModifyIndex, the fencing token of the grant (see <see cref="IConsulLockHandle.FencingToken"/>).</param>
/// <param name="TraceParent">The W3C <c>traceparent</c> of the holder's acquiring <c>Activity</c>; null when it had none.</param>
/// <param name="Waiters">How many processes (sessions) wait in the key's queue; waiters of Consul's Go client are not counted.</param>
public sealed record ConsulLockHolder(
    string Key,
    string InstanceName,
    string SessionId,
    string? Node,
    DateTimeOffset? AcquiredAt,
    ulong FencingToken,
    string? TraceParent,
    int Waiters);
