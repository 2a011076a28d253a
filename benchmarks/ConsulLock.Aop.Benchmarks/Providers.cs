namespace ConsulLock.Aop.Benchmarks;

internal static class Providers
{
    /// <summary>A provider as an application would make one, with no lock-delay so the floor's session is its equal.</summary>
    public static ConsulLockProvider Create(Uri address, string keyPrefix) => new(new ConsulLockOptions
    {
        Address = address,
        KeyPrefix = keyPrefix,
        LockDelay = TimeSpan.Zero,
    });

    /// <summary>One acquire + release through the public API.</summary>
    public static async Task CycleAsync(ConsulLockProvider provider, string key)
    {
        var handle = await provider.AcquireAsync(key);
        await handle.DisposeAsync();
    }
}
