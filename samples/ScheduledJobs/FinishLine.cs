using Microsoft.Extensions.Hosting;

namespace ScheduledJobs;

/// <summary>Stops the host once both schedulers are past their last firing (a real service would run on).</summary>
public sealed class FinishLine(IHostApplicationLifetime lifetime)
{
    private int _running = 2;

    public void Done()
    {
        if (Interlocked.Decrement(ref _running) == 0)
        {
            lifetime.StopApplication();
        }
    }
}
