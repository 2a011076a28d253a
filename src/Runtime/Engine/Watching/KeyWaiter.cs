using ConsulLock.Aop.Consul;

namespace ConsulLock.Aop.Engine;

/// <summary>An observer that a caller awaits: <see cref="Task"/> completes when <see cref="Ends"/> says the change it waits for came.</summary>
internal abstract class KeyWaiter : IKeyObserver
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Task => _done.Task;

    public WatchPriority Priority => WatchPriority.Waiting;

    public bool OnEntry(KvEntry? entry)
    {
        if (!Ends(entry))
        {
            return false;
        }

        _done.TrySetResult();
        return true;
    }

    public bool OnFailure(Exception exception)
    {
        _done.TrySetException(exception);
        return true;
    }

    protected abstract bool Ends(KvEntry? entry);
}
