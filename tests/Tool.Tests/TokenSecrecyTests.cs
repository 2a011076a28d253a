using ConsulLock.Aop.TestSupport;

namespace ConsulLock.Aop.Tool.Tests;

/// <summary>
/// The tool never prints an ACL token, from the environment or the command line, whether it succeeds, Consul refuses
/// it (403), or the command line is wrong; run against an agent with ACLs on and default deny.
/// </summary>
public sealed class TokenSecrecyTests : IAsyncLifetime
{
    private readonly string _prefix = "tool-acl/" + Guid.NewGuid().ToString("N")[..8] + "/";
    private ConsulAgent _agent = null!;
    private string _readToken = null!;
    private string _deniedToken = null!;

    public async Task InitializeAsync()
    {
        _agent = await ConsulAgent.StartWithAclAsync();
        // What an operator's read-only token needs for list, show and watch: the keys, and the sessions (the holder's node and name).
        _readToken = await _agent.CreateTokenAsync("""
            key_prefix "" { policy = "read" }
            session_prefix "" { policy = "read" }
            """);
        _deniedToken = await _agent.CreateTokenAsync("""key_prefix "elsewhere/" { policy = "read" }""");
    }

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    private string MasterToken => _agent.MasterToken!;

    private (string, string?) Address => ("CONSUL_HTTP_ADDR", _agent.Address.ToString());

    [Fact]
    public async Task A_token_from_the_environment_works_and_is_never_printed()
    {
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = MasterToken, InstanceName = "acl-holder/1" });
        await using var handle = await provider.AcquireAsync(_prefix + "a");

        ToolRun[] runs =
        [
            await Consullock.RunAsync(["list", _prefix], Address, ("CONSUL_HTTP_TOKEN", _readToken)),
            await Consullock.RunAsync(["show", _prefix + "a"], Address, ("CONSUL_HTTP_TOKEN", _readToken)),
            await Consullock.RunAsync(["show", _prefix + "a", "--json"], Address, ("CONSUL_HTTP_TOKEN", _readToken)),
            await Consullock.RunAsync(["--help"], Address, ("CONSUL_HTTP_TOKEN", _readToken)),
            await Consullock.RunAsync(["list", "--help"], Address, ("CONSUL_HTTP_TOKEN", _readToken)),
        ];

        Assert.True(runs[0].ExitCode == 0, runs[0].ToString());
        Assert.Contains("acl-holder/1", runs[0].Output, StringComparison.Ordinal);
        Assert.True(runs[1].ExitCode == 0, runs[1].ToString());
        Assert.Contains(handle.SessionId, runs[1].Output, StringComparison.Ordinal);
        foreach (var run in runs)
        {
            AssertNoToken(run, _readToken);
        }

        using var watch = Consullock.Start(["watch", _prefix + "a"], Address, ("CONSUL_HTTP_TOKEN", _readToken));
        try
        {
            var line = await watch.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Contains("held by acl-holder/1", line, StringComparison.Ordinal);
            Assert.DoesNotContain(_readToken, line, StringComparison.Ordinal);
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task A_token_Consul_refuses_fails_with_exit_3_naming_the_address_and_is_never_printed()
    {
        var unknownToken = Guid.NewGuid().ToString();
        ToolRun[] runs =
        [
            await Consullock.RunAsync(["show", _prefix + "a", "--token", _deniedToken], Address),
            await Consullock.RunAsync(["show", _prefix + "a", $"--token={_deniedToken}", "--json"], Address),
            await Consullock.RunAsync(["release", _prefix + "a", "--force"], Address, ("CONSUL_HTTP_TOKEN", _deniedToken)),
            await Consullock.RunAsync(["list", _prefix, "--token", unknownToken], Address),
        ];

        foreach (var run in runs)
        {
            Assert.True(run.ExitCode == 3, run.ToString());
            Assert.Contains("403", run.Error, StringComparison.Ordinal);
            Assert.Contains(_agent.Address.ToString().TrimEnd('/'), run.Error, StringComparison.Ordinal);
            AssertNoToken(run, _deniedToken);
            AssertNoToken(run, unknownToken);
        }
    }

    [Fact]
    public async Task A_token_that_may_not_read_the_keys_lists_nothing_because_Consul_filters_a_listing()
    {
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = MasterToken, InstanceName = "acl-holder/2" });
        await using var handle = await provider.AcquireAsync(_prefix + "filtered");

        // Consul answers a recursive read with the keys the token may read, not with 403: the README says so.
        var run = await Consullock.RunAsync(["list", _prefix], Address, ("CONSUL_HTTP_TOKEN", _deniedToken));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.DoesNotContain("filtered", run.Output, StringComparison.Ordinal);
        AssertNoToken(run, _deniedToken);
    }

    [Fact]
    public async Task Release_works_with_key_read_and_session_write()
    {
        var releaser = await _agent.CreateTokenAsync("""
            key_prefix "" { policy = "read" }
            session_prefix "" { policy = "write" }
            """);
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = _agent.Address, Token = MasterToken, InstanceName = "acl-holder/3" });
        var handle = await provider.AcquireAsync(_prefix + "released");
        var lost = new TaskCompletionSource();
        handle.LostToken.Register(() => lost.TrySetResult());

        var run = await Consullock.RunAsync(["release", _prefix + "released", "--force"], Address, ("CONSUL_HTTP_TOKEN", releaser));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(handle.SessionId, run.Output, StringComparison.Ordinal);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(30));
        AssertNoToken(run, releaser);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task A_token_on_a_wrong_command_line_is_never_echoed()
    {
        const string secret = "5f1e0c3a-2b7d-4e9a-9c11-0d6f8a3b2e47";
        ToolRun[] runs =
        [
            // A misspelt option: the parser sees "--tokn" and an unexpected argument, the secret.
            await Consullock.RunAsync(["list", "--tokn", secret], Address),
            await Consullock.RunAsync(["show", "--tokn", secret, "a/b"], Address),
            await Consullock.RunAsync(["list", "--tokn=" + secret], Address),
            await Consullock.RunAsync(["list", "x/", "--tokn:" + secret], Address),
            await Consullock.RunAsync(["list", "--token", secret, "extra", "arguments"], Address),
            await Consullock.RunAsync(["show", "--token", secret], Address),
            await Consullock.RunAsync(["release", "a/b", "--token", secret], Address),
            await Consullock.RunAsync(["list", "--token", secret + "\u0001"], Address),
        ];

        foreach (var run in runs)
        {
            Assert.True(run.ExitCode == 2, run.ToString());
            AssertNoToken(run, secret);
        }
    }

    private static void AssertNoToken(ToolRun run, string token)
    {
        Assert.DoesNotContain(token, run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token, run.Error, StringComparison.Ordinal);
        // Nor a recognisable part of it (a message that cut the token short).
        Assert.DoesNotContain(token[..12], run.All, StringComparison.Ordinal);
    }
}
