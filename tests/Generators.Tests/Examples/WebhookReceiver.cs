namespace ConsulLock.Aop.Generators.Tests.Examples;

/// <summary>
/// The mission's example, compiled by the real generator as part of this test project; the compile-and-run tests
/// call it against a real Consul. <paramref name="work"/> is what the tests make the body do.
/// </summary>
public sealed partial class WebhookReceiver(IConsulLockProvider locks, Func<string, ConsulLockContext, CancellationToken, Task> work)
{
    [ConsulLocked("webhook_receiver/<id>")]
    public partial Task HandleAsync(int id, CancellationToken cancellationToken);

    [ConsulLocked("webhook_receiver/{id}", WaitTimeout = "30s")]
    public partial Task<string> HandleNamedAsync(string id, CancellationToken cancellationToken);

    private Task HandleCoreAsync(int id, ConsulLockContext lockContext, CancellationToken cancellationToken) =>
        work(id.ToString(System.Globalization.CultureInfo.InvariantCulture), lockContext, cancellationToken);

    private async Task<string> HandleNamedCoreAsync(string id, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        await work(id, lockContext, cancellationToken).ConfigureAwait(false);
        return lockContext.Key;
    }
}
