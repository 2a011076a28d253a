using System.Collections.Concurrent;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Work that outlives the call that started it (a release retried, an in-doubt request cleaned up, a watch loop, a
/// session ending), tracked so that disposal can wait for it, and observed so that a failure is logged, never left to
/// surface later as an unobserved task exception.
/// </summary>
internal sealed class BackgroundWork(ILogger logger)
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();
    private readonly ILogger _logger = logger;

    /// <summary>How many tracked tasks have not ended yet.</summary>
    public int Count => _running.Count;

    /// <summary>Starts <paramref name="work"/> on the thread pool and tracks it.</summary>
    public void Run(Func<Task> work) => Track(Task.Run(work));

    /// <summary>Tracks a task that is already running; returns it.</summary>
    public Task Track(Task task)
    {
        _running.TryAdd(task, 0);
        _ = task.ContinueWith(
            static (done, state) =>
            {
                var owner = (BackgroundWork)state!;
                owner._running.TryRemove(done, out _);
                if (done.Exception is { } failure)
                {
                    Log.BackgroundFailed(owner._logger, failure.GetBaseException());
                }
            },
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <summary>Waits for the tracked work (and work it starts meanwhile) to end, at most <paramref name="limit"/>; never throws.</summary>
    public async Task WhenDoneAsync(TimeSpan limit)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (!_running.IsEmpty)
        {
            var left = limit == Timeout.InfiniteTimeSpan ? limit : limit - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (left != Timeout.InfiniteTimeSpan && left <= TimeSpan.Zero)
            {
                return;
            }

            try
            {
                await Task.WhenAll(_running.Keys).WaitAsync(left).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
            catch (Exception)
            {
                // Logged by the continuation that tracks each task.
            }
        }
    }
}
