using ConsulLock.Aop.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConsulLock.Aop.Tests.Engine;

/// <summary>The one tracker of the engine's background work: disposal relies on it to wait, and to leave no unobserved exception.</summary>
public sealed class BackgroundWorkTests
{
    [Fact]
    public async Task Waiting_without_a_limit_waits_for_work_tracked_before_and_during_the_wait()
    {
        var work = new BackgroundWork(NullLogger.Instance);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        work.Run(async () =>
        {
            await first.Task;
            work.Run(() => second.Task);
        });

        var waiting = work.WhenDoneAsync(Timeout.InfiniteTimeSpan);
        Assert.False(waiting.IsCompleted);
        first.SetResult();
        await Task.Yield();
        Assert.False(waiting.IsCompleted, "work started by tracked work is waited for too");
        second.SetResult();
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, work.Count);
    }

    [Fact]
    public async Task A_limit_ends_the_wait_and_a_failure_is_observed_not_thrown()
    {
        var work = new BackgroundWork(NullLogger.Instance);
        var never = new TaskCompletionSource();
        work.Run(() => never.Task);
        work.Run(() => throw new InvalidOperationException("a failing clean-up"));
        await work.WhenDoneAsync(TimeSpan.FromMilliseconds(100)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, work.Count);
    }
}
