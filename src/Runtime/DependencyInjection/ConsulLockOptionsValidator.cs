using Microsoft.Extensions.Options;

namespace ConsulLock.Aop.DependencyInjection;

/// <summary>
/// Validates <see cref="ConsulLockOptions"/> the .NET way, so that <c>ValidateOnStart</c> stops a host with bad
/// settings before it serves a request. The checks are the providers' own (<see cref="ConsulLockOptions.FindProblems"/>).
/// </summary>
internal sealed class ConsulLockOptionsValidator : IValidateOptions<ConsulLockOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsulLockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.FindProblems();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
