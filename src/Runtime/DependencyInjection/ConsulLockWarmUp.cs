using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.DependencyInjection;

/// <summary>
/// Warms the provider when the host starts (<see cref="ConsulLockProvider.WarmUpAsync"/>), so that a job that locks
/// right after start does not pay for the first connection and first-use compilation. The host's start waits for it
/// at most <see cref="s_startWait"/>; a warm-up that takes longer (Consul slow or down) goes on in the background, and
/// its failure is logged, never thrown: the first lock reports Consul's state itself.
/// </summary>
internal sealed partial class ConsulLockWarmUp(ConsulLockProvider provider, ILogger<ConsulLockWarmUp> logger) : IHostedService, IDisposable
{
    private static readonly TimeSpan s_startWait = TimeSpan.FromSeconds(1);
    private readonly CancellationTokenSource _stopping = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var warming = WarmAsync();
        try
        {
            await warming.WaitAsync(s_startWait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        return Task.CompletedTask;
    }

    public void Dispose() => _stopping.Dispose();

    private async Task WarmAsync()
    {
        try
        {
            await provider.WarmUpAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ConsulLockException or OperationCanceledException or ObjectDisposedException)
        {
            WarmUpFailed(logger, ex);
        }
    }

    [LoggerMessage(60, LogLevel.Debug, "Warming the lock provider up at host start failed; the first lock pays for the connection itself.")]
    private static partial void WarmUpFailed(ILogger logger, Exception exception);
}
