namespace ConsulLock.Aop;

/// <summary>
/// <see cref="ConsulLockOptions.KeyPrefix"/> read as a folder: <c>"locks"</c> and <c>"locks/"</c> both put a key
/// <c>orders/7</c> at <c>locks/orders/7</c>. Both providers join keys through it, so they name keys alike.
/// </summary>
internal static class KeyFolder
{
    /// <summary>The full key in Consul of <paramref name="key"/> under <paramref name="prefix"/>.</summary>
    public static string Join(string prefix, string key)
    {
        if (prefix.Length == 0)
        {
            return key;
        }

        return prefix[^1] == '/' ? prefix + key : prefix + "/" + key;
    }

    /// <summary>What is wrong with <paramref name="prefix"/> as a folder of lock keys, or <see langword="null"/>.</summary>
    public static string? FindProblem(string prefix)
    {
        if (prefix.Length == 0)
        {
            return null;
        }

        var folder = prefix[^1] == '/' ? prefix[..^1] : prefix;
        return LockKey.FindProblem(folder) is { } problem
            ? problem + "; write a folder such as 'locks/my-service' (a trailing '/' is optional)"
            : null;
    }
}

/// <summary>
/// A provider that puts keys in a folder, so code that holds only the key as passed in (the timeout exception of
/// <c>LockedMethodRunner</c>) can name the full key as the provider's handles do.
/// </summary>
internal interface IKeyFolderProvider
{
    /// <summary>The full key in Consul of <paramref name="key"/>, as the provider's handles name it.</summary>
    string FullKey(string key);
}
