namespace ConsulLock.Aop;

/// <summary>Process-wide settings of ConsulLock.Aop.</summary>
public static class ConsulLocking
{
    private static IConsulLockProvider? s_default;

    /// <summary>
    /// The provider that <see cref="ConsulLockedAttribute"/> methods use when their type has no field, property or
    /// primary-constructor parameter of type <see cref="IConsulLockProvider"/>. <c>AddConsulLocking</c> does not set it;
    /// set it at start-up, for example <c>ConsulLocking.Default = app.Services.GetRequiredService&lt;IConsulLockProvider&gt;()</c>.
    /// </summary>
    public static IConsulLockProvider? Default
    {
        get => Volatile.Read(ref s_default);
        set => Volatile.Write(ref s_default, value);
    }
}
