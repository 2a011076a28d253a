namespace ConsulLock.Aop;

/// <summary>What Consul does with a held key when the session holding it is invalidated (Consul's session <c>Behavior</c>).</summary>
public enum SessionBehavior
{
    /// <summary>The key is released and keeps its value.</summary>
    Release = 0,

    /// <summary>The key is deleted.</summary>
    Delete = 1,
}
