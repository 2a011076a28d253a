using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tool.Tests;

/// <summary>Tests in this collection share one real Consul dev agent.</summary>
[CollectionDefinition(Name)]
public sealed class ConsulCollection : ICollectionFixture<ConsulAgentFixture>
{
    public const string Name = "consul";
}
