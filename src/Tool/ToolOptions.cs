using System.CommandLine;

namespace ConsulLock.Aop.Tool;

/// <summary>The options every command takes: where Consul is, the ACL token, and JSON output.</summary>
internal sealed class ToolOptions
{
    public const string TokenName = "--token";

    public const string AddressVariable = "CONSUL_HTTP_ADDR";

    public const string TokenVariable = "CONSUL_HTTP_TOKEN";

    // No default value factories: help prints defaults, and the token's would be the secret from the environment.
    public Option<string?> Address { get; } = new("--address")
    {
        Description = $"Consul's HTTP API, http:// or https:// (host:port means http://). Default: {AddressVariable}, else http://127.0.0.1:8500.",
        HelpName = "url",
        Recursive = true,
    };

    public Option<string?> Token { get; } = new(TokenName)
    {
        Description = $"The ACL token (never printed). Default: {TokenVariable}. Prefer the variable: a command line is visible to other users of the machine.",
        HelpName = "token",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Write JSON for scripts instead of text (watch: one JSON object per line).",
        Recursive = true,
    };
}
