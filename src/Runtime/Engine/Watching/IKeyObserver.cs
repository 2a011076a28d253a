using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>Who a watch serves first when blocking queries run short.</summary>
internal enum WatchPriority
{
    /// <summary>A held key: it can be batch-checked, and it gives its blocking query up to a waiter.</summary>
    Held,

    /// <summary>A waiter: it needs to hear of a change at once, so it gets a blocking query of its own first.</summary>
    Waiting,
}

/// <summary>Receives what a watch (<see cref="KeyWatches"/>) sees of one key.</summary>
internal interface IKeyObserver
{
    WatchPriority Priority { get; }

    /// <summary>The key's entry (null when absent) as of a Consul index at or past the subscription's; true ends the subscription.</summary>
    bool OnEntry(KvEntry? entry);

    /// <summary>
    /// The watch failed for good (Consul refuses to show the key) or the provider is being disposed; true ends the
    /// subscription. A transient failure is never reported: the watch retries it.
    /// </summary>
    bool OnFailure(Exception exception);
}
