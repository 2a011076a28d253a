using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// A place that a release took in a key's queue in Consul for the next caller of this process that waits for the key
/// (<see cref="QueueTransactions.ReleaseTakingPlaceAsync"/>); it travels through the key's gate (<see cref="KeyGates"/>).
/// </summary>
/// <param name="Entry">The queue entry's key.</param>
/// <param name="Session">The session the entry is locked with.</param>
/// <param name="ModifyIndex">The entry's index as written, so that removing an unused place never touches a newer one.</param>
/// <param name="Entries">The queue as read when the place was taken.</param>
internal sealed record QueueHandoff(string Entry, string Session, ulong ModifyIndex, List<KvEntry> Entries);
