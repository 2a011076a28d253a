using System.CommandLine;

namespace ConsulLock.Aop.Tool.Commands;

/// <summary>What every command does around its own work: connect, and turn each failure into its exit code and a message.</summary>
internal static class CommandRunner
{
    /// <summary>Exit code of a command interrupted by Ctrl+C before it finished (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    public static async Task<int> RunAsync(
        ParseResult parse, ToolOptions tool, ToolConsole console, Func<LockDirectory, CancellationToken, Task<int>> work, CancellationToken cancellationToken)
    {
        var (options, problem) = ConsulConnection.From(parse, tool);
        if (options is null)
        {
            console.Fail(problem!);
            return ExitCodes.Usage;
        }

        try
        {
            var directory = new LockDirectory(options);
            await using (directory.ConfigureAwait(false))
            {
                return await work(directory, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ConsulLockException ex)
        {
            var address = options.Address.ToString().TrimEnd('/');
            console.Fail(ex.Message.Contains(address, StringComparison.Ordinal) ? ex.Message : $"Consul at {address}: {ex.Message}");
            return ExitCodes.ConsulFailed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.Fail("interrupted.");
            return Interrupted;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Not a failure the runtime describes (those are ConsulLockExceptions): said in full, for a bug report, and
            // through the same token filter as everything else rather than by the runtime's unhandled-exception printer.
            console.Fail($"failed unexpectedly while working with Consul at {options.Address.ToString().TrimEnd('/')}: {ex}");
            return ExitCodes.ConsulFailed;
        }
    }

    /// <summary>The <c>&lt;key&gt;</c> argument of the commands that work on one lock.</summary>
    public static Argument<string> KeyArgument() => new("key") { Description = "The lock's full Consul key (with its key prefix)." };

    /// <summary>
    /// Runs <paramref name="work"/> on the lock <paramref name="key"/> names, after checking that it is a lock key
    /// (a usage error otherwise, before any network call).
    /// </summary>
    public static Task<int> RunOnKeyAsync(
        ParseResult parse, Argument<string> key, ToolOptions tool, ToolConsole console,
        Func<string, LockDirectory, CancellationToken, Task<int>> work, CancellationToken cancellationToken)
    {
        var name = parse.GetRequiredValue(key);
        if (KeyProblem(name) is { } problem)
        {
            console.Fail(problem);
            return Task.FromResult(ExitCodes.Usage);
        }

        return RunAsync(parse, tool, console, (directory, token) => work(name, directory, token), cancellationToken);
    }

    /// <summary>The usage problem of a lock key given on the command line, or null when it is one.</summary>
    public static string? KeyProblem(string key) => LockKey.FindProblem(key) is { } problem ? $"'{key}' is not a lock key: {problem}." : null;
}
