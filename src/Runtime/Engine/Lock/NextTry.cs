namespace ConsulLock.Aop.Engine;

/// <summary>How the next lock request is made: after reading the key, or at once, expecting the key absent or at an index.</summary>
internal readonly record struct NextTry
{
    private NextTry(bool readFirst, ulong index) => (ReadsKeyFirst, Index) = (readFirst, index);

    /// <summary>Read the key first: its state is not known.</summary>
    public static NextTry ReadKey => new(true, 0);

    /// <summary>Lock at once with <c>check-not-exists</c>: the key is thought absent (releases delete it).</summary>
    public static NextTry LockIfAbsent => new(false, 0);

    /// <summary>Lock at once with <c>check-index</c> at <paramref name="index"/>, where the key was seen free.</summary>
    public static NextTry LockAt(ulong index) => new(false, index);

    public bool ReadsKeyFirst { get; }

    /// <summary>The ModifyIndex the lock request checks; 0 means "absent".</summary>
    public ulong Index { get; }

    public bool ExpectsAbsent => !ReadsKeyFirst && Index == 0;
}
