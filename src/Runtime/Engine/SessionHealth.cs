namespace ConsulLock.Aop.Engine;

/// <summary>A live session as a health check sees it: how long since Consul last acknowledged its renewal, and its TTL.</summary>
internal readonly record struct SessionHealth(string SessionId, TimeSpan SinceLastRenewal, TimeSpan Ttl);
