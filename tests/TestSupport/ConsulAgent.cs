using System.Net;
using System.Text.Json;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// A real <c>consul agent -dev</c> on free loopback ports, started for a test and stopped when disposed. Optionally
/// with ACLs enforced (default deny, a master token).
/// </summary>
public sealed class ConsulAgent : IAsyncDisposable
{
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private readonly ConsulProcess _process;
    private readonly string _workDirectory;

    private ConsulAgent(ConsulProcess process, Uri address, string? masterToken, string workDirectory)
    {
        _process = process;
        Address = address;
        MasterToken = masterToken;
        _workDirectory = workDirectory;
    }

    /// <summary>The HTTP API address, for example <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>The ACL master token; null when ACLs are off.</summary>
    public string? MasterToken { get; }

    public static Task<ConsulAgent> StartDevAsync(CancellationToken cancellationToken = default) =>
        StartAsync(withAcl: false, cancellationToken);

    public static Task<ConsulAgent> StartWithAclAsync(CancellationToken cancellationToken = default) =>
        StartAsync(withAcl: true, cancellationToken);

    /// <summary>Creates a policy from HCL <paramref name="rules"/> and a token bound to it, using the master token.</summary>
    public async Task<string> CreateTokenAsync(string rules, CancellationToken cancellationToken = default)
    {
        if (MasterToken is null)
        {
            throw new InvalidOperationException("This agent runs without ACLs.");
        }

        var name = "policy-" + Guid.NewGuid().ToString("N");
        var policy = JsonSerializer.Serialize(new Dictionary<string, string> { ["Name"] = name, ["Rules"] = rules });
        var (status, body) = await ConsulHttp.SendAsync(HttpMethod.Put, Address, "/v1/acl/policy", policy, MasterToken, cancellationToken).ConfigureAwait(false);
        EnsureOk(status, body, "create the ACL policy");

        var token = "{\"Description\":\"test token\",\"Policies\":[{\"Name\":\"" + name + "\"}]}";
        (status, body) = await ConsulHttp.SendAsync(HttpMethod.Put, Address, "/v1/acl/token", token, MasterToken, cancellationToken).ConfigureAwait(false);
        EnsureOk(status, body, "create the ACL token");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("SecretID").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        TryDeleteDirectory(_workDirectory);
    }

    private static async Task<ConsulAgent> StartAsync(bool withAcl, CancellationToken cancellationToken)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var workDirectory = Directory.CreateTempSubdirectory("consullock-agent-").FullName;
            var ports = FreePorts.Take(4);
            var masterToken = withAcl ? Guid.NewGuid().ToString() : null;
            var arguments = new List<string>
            {
                "agent", "-dev",
                "-node", $"{ConsulProcess.RunId}-dev-{ports[0]}",
                "-bind", "127.0.0.1", "-client", "127.0.0.1",
                "-http-port", ports[0].ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-serf-lan-port", ports[1].ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-serf-wan-port", ports[2].ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-server-port", ports[3].ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-dns-port", "-1", "-grpc-port", "-1",
                "-log-level", "warn",
            };
            if (masterToken is not null)
            {
                var config = Path.Combine(workDirectory, "acl.hcl");
                await File.WriteAllTextAsync(config, $$"""
                    acl {
                      enabled = true
                      default_policy = "deny"
                      down_policy = "extend-cache"
                      tokens { master = "{{masterToken}}" }
                    }
                    """, cancellationToken).ConfigureAwait(false);
                arguments.Add("-config-file");
                arguments.Add(config);
            }

            var process = ConsulProcess.Start(arguments);
            var agent = new ConsulAgent(process, new Uri($"http://127.0.0.1:{ports[0]}"), masterToken, workDirectory);
            try
            {
                await agent.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
                return agent;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                last = ex;
                await agent.DisposeAsync().ConfigureAwait(false);
                if (!process.OutputTail().Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    break;
                }
            }
        }

        throw new InvalidOperationException("The Consul agent did not start.", last);
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(s_readyTimeout);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"consul exited during start-up:{Environment.NewLine}{_process.OutputTail()}");
            }

            try
            {
                if (await IsReadyAsync(timeout.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"consul was not ready within {s_readyTimeout.TotalSeconds} s:{Environment.NewLine}{_process.OutputTail()}");
            }

            // There is no event for "the agent elected itself"; poll at a short interval.
            await Task.Delay(50, timeout.Token).ConfigureAwait(false);
        }
    }

    private async Task<bool> IsReadyAsync(CancellationToken cancellationToken)
    {
        if ((await ConsulHttp.LeaderAsync(Address, cancellationToken).ConfigureAwait(false)).Length == 0)
        {
            return false;
        }

        if (MasterToken is not null)
        {
            var (status, _) = await ConsulHttp.SendAsync(HttpMethod.Get, Address, "/v1/acl/token/self", token: MasterToken, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (status != HttpStatusCode.OK)
            {
                return false;
            }
        }

        // A leader is not enough: until the agent's node is in the catalog, creating a session fails with
        // "Missing node registration".
        var (catalogStatus, nodes) = await ConsulHttp.SendAsync(HttpMethod.Get, Address, "/v1/catalog/nodes", token: MasterToken, cancellationToken: cancellationToken).ConfigureAwait(false);
        return catalogStatus == HttpStatusCode.OK && nodes.Contains("\"Node\"", StringComparison.Ordinal);
    }

    private static void EnsureOk(HttpStatusCode status, string body, string what)
    {
        if (status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"Could not {what}: {(int)status} {body}");
        }
    }

    internal static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
