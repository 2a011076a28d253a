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

    /// <summary>
    /// Marks work started inside the returned scope as a flow of its own for reentrancy. Locks are tracked per async
    /// flow (an <see cref="AsyncLocal{T}"/>), which includes every task started while a lock is held: a <c>Task.Run</c>
    /// that asks for a key its parent holds gets <see cref="ConsulLockReentrancyException"/>. Start such work inside
    /// this scope and it waits for the key like any other caller instead.
    /// </summary>
    /// <returns>A scope to dispose, in the same method, once the separate work is started.</returns>
    /// <remarks>
    /// Inside the scope the current flow counts as holding no key, so do not ask there for a key it holds (that waits
    /// for itself), and do not await, while holding a key, separate work that needs the same key: both deadlock.
    /// Disposal restores the held keys, plus any acquired inside the scope.
    /// <code>
    /// Task audit;
    /// using (ConsulLocking.SeparateFlow())
    /// {
    ///     audit = Task.Run(() => AuditAsync(orderId)); // may lock the same key once this caller releases it
    /// }
    /// </code>
    /// </remarks>
    public static IDisposable SeparateFlow() => Engine.FlowLocks.Separate();
}
