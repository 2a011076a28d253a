using System.CommandLine;

namespace ConsulLock.Aop.Tool;

/// <summary>
/// The runtime's options for talking to Consul, from <c>--address</c>/<c>--token</c> or the environment, checked before
/// any network call.
/// </summary>
internal static class ConsulConnection
{
    /// <summary>The options, or the usage problems (never quoting the token).</summary>
    public static (ConsulLockOptions? Options, string? Problem) From(ParseResult parse, ToolOptions tool)
    {
        // The runtime's defaults already read CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN.
        var options = new ConsulLockOptions();
        if (parse.GetValue(tool.Address) is { } address)
        {
            options.TrySetAddress(address, "--address");
        }

        if (parse.GetResult(tool.Token) is not null)
        {
            options.Token = parse.GetValue(tool.Token) is { Length: > 0 } token ? token : null;
        }

        var problems = options.FindProblems();
        return problems.Count == 0
            ? (options, null)
            : (null, string.Join("; ", problems.Select(p => p.Replace("ConsulLockOptions.", "", StringComparison.Ordinal))));
    }
}
