namespace ConsulLock.Aop.Consul;

/// <summary>Why Consul rolled a transaction back, read from the text of its first error (Consul gives no codes).</summary>
internal enum TxnRefusal
{
    /// <summary>The key is not as it was seen: a check failed, it exists, it is gone, or another session holds it. Look again.</summary>
    KeyChanged,

    /// <summary>Consul does not know the session (destroyed or invalidated).</summary>
    InvalidSession,

    /// <summary>The key is in its lock-delay after its holder's session was invalidated.</summary>
    LockDelay,

    /// <summary>The ACL token may not do it (a transaction reports a denial as an error, not as HTTP 403).</summary>
    PermissionDenied,

    /// <summary>Anything else: a refusal nobody can retry past.</summary>
    Other,
}

internal static class TxnRefusals
{
    /// <summary>Classifies the <c>What</c> of a transaction error; the checks are in the order that keeps them unambiguous.</summary>
    public static TxnRefusal Classify(string? why)
    {
        why ??= "";
        return Has(why, "permission denied") ? TxnRefusal.PermissionDenied
            : Has(why, "invalid session") ? TxnRefusal.InvalidSession
            : Has(why, "lock delay") ? TxnRefusal.LockDelay
            : Has(why, "failed index check") || Has(why, "failed to check index") // deleted after it was read
              || Has(why, "index is stale") // a check-and-set at an index that moved on
              || Has(why, "exist") || Has(why, "already held") || Has(why, "isn't held") ? TxnRefusal.KeyChanged
            : TxnRefusal.Other;
    }

    /// <summary>The first error of a rolled-back transaction (null when it committed) and its class.</summary>
    public static (TxnRefusal Refusal, string Why)? RefusalOf(TxnResponse answer) =>
        answer.Errors is { Count: > 0 } errors ? (Classify(errors[0].What), errors[0].What ?? "") : null;

    private static bool Has(string text, string part) => text.Contains(part, StringComparison.OrdinalIgnoreCase);
}
