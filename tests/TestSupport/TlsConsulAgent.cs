using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ConsulLock.Aop.TestSupport;

/// <summary>
/// A real <c>consul agent -dev</c> that serves its HTTP API over HTTPS only and requires a client certificate signed by
/// its CA (<c>verify_incoming</c>). The CA and the certificates are made offline for each agent with
/// <c>consul tls ca create</c> and <c>consul tls cert create</c> (the server certificate names 127.0.0.1 and
/// localhost), plus a second CA that Consul does not trust, for a client certificate it must refuse.
/// </summary>
public sealed class TlsConsulAgent : IAsyncDisposable
{
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(30);
    private readonly ConsulProcess _process;
    private readonly string _workDirectory;

    private TlsConsulAgent(ConsulProcess process, Uri address, string workDirectory, Certificates certificates)
    {
        _process = process;
        Address = address;
        _workDirectory = workDirectory;
        CertificateAuthority = certificates.Authority;
        ClientCertificate = certificates.Client;
        ForeignClientCertificate = certificates.ForeignClient;
    }

    /// <summary>The HTTPS API address, for example <c>https://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>The CA that signed the agent's certificate and the client certificates it accepts.</summary>
    public X509Certificate2 CertificateAuthority { get; }

    /// <summary>A client certificate, with its private key, signed by <see cref="CertificateAuthority"/>.</summary>
    public X509Certificate2 ClientCertificate { get; }

    /// <summary>A client certificate, with its private key, signed by a CA the agent does not trust.</summary>
    public X509Certificate2 ForeignClientCertificate { get; }

    /// <summary>
    /// For <c>ConsulLockOptions.ConfigureHttpHandler</c>: trusts the agent's certificate when its chain ends at
    /// <see cref="CertificateAuthority"/> (and only that CA) and it names the address; nothing else.
    /// </summary>
    public void TrustCertificateAuthority(HttpClientHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        handler.ServerCertificateCustomValidationCallback = (_, certificate, _, errors) => IsSignedByAuthority(certificate, errors);
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        CertificateAuthority.Dispose();
        ClientCertificate.Dispose();
        ForeignClientCertificate.Dispose();
        ConsulAgent.TryDeleteDirectory(_workDirectory);
    }

    /// <summary>An HTTP client, independent of the library under test, that the agent accepts.</summary>
    public HttpClient NewHttpClient()
    {
        var handler = new HttpClientHandler { ClientCertificateOptions = ClientCertificateOption.Manual };
        handler.ClientCertificates.Add(ClientCertificate);
        TrustCertificateAuthority(handler);
        return new HttpClient(handler) { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public static async Task<TlsConsulAgent> StartAsync(CancellationToken cancellationToken = default)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var workDirectory = Directory.CreateTempSubdirectory("consullock-tls-agent-").FullName;
            Certificates certificates;
            try
            {
                certificates = await CreateCertificatesAsync(workDirectory).ConfigureAwait(false);
            }
            catch
            {
                ConsulAgent.TryDeleteDirectory(workDirectory);
                throw;
            }

            var ports = FreePorts.Take(4);
            var config = Path.Combine(workDirectory, "tls.hcl");
            await File.WriteAllTextAsync(config, $$"""
                ports {
                  http = -1
                  https = {{ports[0]}}
                }
                verify_incoming = true
                ca_file = "{{Path.Combine(workDirectory, "consul-agent-ca.pem")}}"
                cert_file = "{{Path.Combine(workDirectory, "dc1-server-consul-0.pem")}}"
                key_file = "{{Path.Combine(workDirectory, "dc1-server-consul-0-key.pem")}}"
                """, cancellationToken).ConfigureAwait(false);
            var process = ConsulProcess.Start(
            [
                "agent", "-dev",
                "-node", $"{ConsulProcess.RunId}-tls-{ports[0]}",
                "-bind", "127.0.0.1", "-client", "127.0.0.1",
                "-serf-lan-port", ports[1].ToString(CultureInfo.InvariantCulture),
                "-serf-wan-port", ports[2].ToString(CultureInfo.InvariantCulture),
                "-server-port", ports[3].ToString(CultureInfo.InvariantCulture),
                "-dns-port", "-1", "-grpc-port", "-1",
                "-log-level", "warn",
                "-config-file", config,
            ]);
            var agent = new TlsConsulAgent(process, new Uri($"https://127.0.0.1:{ports[0]}"), workDirectory, certificates);
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

        throw new InvalidOperationException("The TLS Consul agent did not start.", last);
    }

    private bool IsSignedByAuthority(X509Certificate2? certificate, SslPolicyErrors errors)
    {
        // Name and presence are checked by .NET; the chain is ours to check, against this CA alone.
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(CertificateAuthority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(s_readyTimeout);
        using var http = NewHttpClient();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"consul exited during start-up:{Environment.NewLine}{_process.OutputTail()}");
            }

            try
            {
                // A leader is not enough: until the agent's node is in the catalog, creating a session fails.
                var leader = await http.GetStringAsync(new Uri("/v1/status/leader", UriKind.Relative), timeout.Token).ConfigureAwait(false);
                if (leader.Trim().Trim('"').Length > 0)
                {
                    using var nodes = await http.GetAsync(new Uri("/v1/catalog/nodes", UriKind.Relative), timeout.Token).ConfigureAwait(false);
                    if (nodes.StatusCode == HttpStatusCode.OK
                        && (await nodes.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false)).Contains("\"Node\"", StringComparison.Ordinal))
                    {
                        return;
                    }
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

            await Task.Delay(50, timeout.Token).ConfigureAwait(false);
        }
    }

    private static async Task<Certificates> CreateCertificatesAsync(string directory)
    {
        await ToolAsync(directory, "tls", "ca", "create").ConfigureAwait(false);
        await ToolAsync(directory, "tls", "cert", "create", "-server", "-dc", "dc1").ConfigureAwait(false);
        await ToolAsync(directory, "tls", "cert", "create", "-client", "-dc", "dc1").ConfigureAwait(false);
        var foreign = Directory.CreateDirectory(Path.Combine(directory, "foreign")).FullName;
        await ToolAsync(foreign, "tls", "ca", "create").ConfigureAwait(false);
        await ToolAsync(foreign, "tls", "cert", "create", "-client", "-dc", "dc1").ConfigureAwait(false);

        return new Certificates(
            X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(directory, "consul-agent-ca.pem")).ConfigureAwait(false)),
            LoadWithKey(directory, "dc1-client-consul-0"),
            LoadWithKey(foreign, "dc1-client-consul-0"));
    }

    private static X509Certificate2 LoadWithKey(string directory, string name)
    {
        using var ephemeral = X509Certificate2.CreateFromPemFile(Path.Combine(directory, name + ".pem"), Path.Combine(directory, name + "-key.pem"));
        // A round trip through PKCS #12 gives the key a form every platform's TLS stack can use for a client certificate.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }

    private static async Task ToolAsync(string directory, params string[] arguments)
    {
        var (exitCode, output) = await ChildProcess.RunAsync(ConsulBinary.Path, arguments, s_toolTimeout, directory).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"consul {string.Join(' ', arguments)} failed ({exitCode}): {output}");
        }
    }

    private sealed record Certificates(X509Certificate2 Authority, X509Certificate2 Client, X509Certificate2 ForeignClient);
}
