namespace ConsulLock.Aop.Generators.Tests.Examples;

/// <summary>
/// Contract section 10's example: at most 2 exports per tenant at once across instances, compiled by the real generator
/// as part of this test project; <paramref name="work"/> is what the tests make the body do.
/// </summary>
public sealed partial class ExportJob(IConsulLockProvider locks, Func<ConsulLockContext, CancellationToken, Task> work)
{
    [ConsulSemaphore("exports/{tenant}", Limit = 2)]
    public partial Task<string> ExportAsync(string tenant, CancellationToken cancellationToken);

    /// <summary>Tries once; false (the body skipped) when 2 others hold permits.</summary>
    [ConsulSemaphore("exports/{tenant}", Limit = 2, WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)]
    public partial Task<bool> TryExportAsync(string tenant, CancellationToken cancellationToken);

    private async Task<string> ExportCoreAsync(string tenant, ConsulLockContext permit, CancellationToken cancellationToken)
    {
        await work(permit, cancellationToken).ConfigureAwait(false);
        return permit.Key;
    }

    private async Task<bool> TryExportCoreAsync(string tenant, ConsulLockContext permit, CancellationToken cancellationToken)
    {
        await work(permit, cancellationToken).ConfigureAwait(false);
        return true;
    }
}
