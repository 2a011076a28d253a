using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ConsulLock.Aop.Tool.Output;

namespace ConsulLock.Aop.Tool.Commands;

/// <summary>
/// <c>consullock release &lt;key&gt; --force</c>: destroys the holder's Consul session, the one way to take a lock
/// from a holder that is stuck. Says whose session it was and what that does to the holder.
/// </summary>
internal static class ReleaseCommand
{
    private const string Consequences =
        "it destroys the holder's Consul session: the holder's LostToken fires and its work under the lock is cancelled; " +
        "every other key held by that session is released too (a process shares one session among its locks); and Consul's " +
        "lock-delay (15 s by default) keeps those keys from being taken by anyone for that long.";

    public static Command Create(ToolOptions tool, ToolConsole console)
    {
        var key = CommandRunner.KeyArgument();
        var force = new Option<bool>("--force") { Description = "Required. Confirms the release, knowing that " + Consequences };
        var command = new Command("release", "Force a lock free: destroy its holder's session (needs --force; 'release --help' says what that does to the holder).") { key, force };
        command.SetAction((parse, cancellationToken) =>
        {
            var name = parse.GetRequiredValue(key);
            if (!parse.GetValue(force))
            {
                console.Fail("release needs --force: " + Consequences + $" Run 'consullock show {name}' to see the holder, and add --force to release it.");
                return Task.FromResult(ExitCodes.Usage);
            }

            return CommandRunner.RunOnKeyAsync(parse, key, tool, console, async (name, directory, token) =>
            {
                var (holder, session) = await directory.ForceReleaseAsync(name, token).ConfigureAwait(false);
                if (holder is null)
                {
                    console.Fail($"nobody holds '{name}'; nothing was released.");
                    return ExitCodes.NoSuchLock;
                }

                if (parse.GetValue(tool.Json))
                {
                    console.Line(JsonSerializer.Serialize(
                        new ReleaseReport(name, holder.SessionId, holder.InstanceName, holder.Node, holder.FencingToken, session?.LockDelay.TotalSeconds, session?.Behavior),
                        ToolJsonContext.Default.ReleaseReport));
                }
                else
                {
                    console.Line(Report(holder, session));
                }

                return ExitCodes.Done;
            }, cancellationToken);
        });
        return command;
    }

    private static string Report(ConsulLockHolder holder, HolderSession? session)
    {
        var deletes = string.Equals(session?.Behavior, "delete", StringComparison.OrdinalIgnoreCase);
        var delay = session is null ? "the session's lock-delay" : $"the session's lock-delay of {HolderText.Duration(session.LockDelay)}";
        return string.Join(Environment.NewLine,
            $"Destroyed session {holder.SessionId} of {holder.InstanceName}{(holder.Node is null ? "" : " on node " + holder.Node)}, " +
            $"which held '{holder.Key}' (fencing token {holder.FencingToken.ToString(CultureInfo.InvariantCulture)}).",
            "What that does:",
            $"  - {holder.InstanceName} loses the lock: a ConsulLock.Aop holder's LostToken fires as soon as it sees its session gone, " +
            "cancelling its work under the lock (a Consul Go client holder's lost channel closes).",
            $"  - Every other key held by that session is {(deletes ? "deleted" : "released")} too.",
            $"  - Consul keeps '{holder.Key}' (and those keys) from being acquired for {delay}; then the next waiter gets it.");
    }
}
