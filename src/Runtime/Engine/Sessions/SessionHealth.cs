namespace ConsulLock.Aop.Engine;

/// <summary>How a live session is renewing: the time since Consul last acknowledged it, against its TTL.</summary>
internal readonly record struct SessionHealth(string SessionId, TimeSpan SinceLastRenewal, TimeSpan Ttl);
