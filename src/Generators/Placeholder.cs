namespace ConsulLock.Aop.Generators;

internal static class GeneratorInfo
{
    public const string AssemblyName = "ConsulLock.Aop.Generators";
}
