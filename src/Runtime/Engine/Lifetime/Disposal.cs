namespace ConsulLock.Aop.Engine;

/// <summary>
/// The provider's disposal as the engine's waits see it: one token that ends every pause and wait of an acquire, and
/// the one exception a caller gets when disposal ended its wait.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification =
    "Never disposed on purpose: handles and waits may still read its token after the provider's disposal.")]
internal sealed class Disposal
{
    private readonly CancellationTokenSource _started = new(); // never disposed: its token may still be read after disposal

    public CancellationToken Token => _started.Token;

    public bool HasStarted => _started.IsCancellationRequested;

    public Task StartAsync() => _started.CancelAsync();

    public static ObjectDisposedException EndedWait() =>
        new(nameof(ConsulLockProvider), "The lock provider was disposed while the acquire waited.");

    /// <summary>Throws when the caller cancelled or the provider is being disposed.</summary>
    public void ThrowIfStopped(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (HasStarted)
        {
            throw EndedWait();
        }
    }

    /// <summary>A pause inside an acquire, ended by the caller's token or by the provider's disposal.</summary>
    public async Task PauseAsync(TimeSpan pause, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(pause, cancellationToken).WaitAsync(Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw EndedWait();
        }
    }

    /// <summary>A pause of background work: false when disposal ended it.</summary>
    public async Task<bool> IdleAsync(TimeSpan pause)
    {
        try
        {
            await Task.Delay(pause, Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
