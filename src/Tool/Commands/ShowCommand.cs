using System.CommandLine;
using System.Text.Json;
using ConsulLock.Aop.Tool.Output;

namespace ConsulLock.Aop.Tool.Commands;

/// <summary><c>consullock show &lt;key&gt;</c>: who holds one key; exit 1 when nobody does.</summary>
internal static class ShowCommand
{
    public static Command Create(ToolOptions tool, ToolConsole console)
    {
        var key = CommandRunner.KeyArgument();
        var command = new Command("show", "Show who holds a lock: instance, session, node, since, fencing token, trace parent, waiters.") { key };
        command.SetAction((parse, cancellationToken) =>
            CommandRunner.RunOnKeyAsync(parse, key, tool, console, async (name, directory, token) =>
            {
                var holder = await directory.GetAsync(name, token).ConfigureAwait(false);
                if (holder is null)
                {
                    console.Fail($"nobody holds '{name}'.");
                    return ExitCodes.NoSuchLock;
                }

                console.Line(parse.GetValue(tool.Json)
                    ? JsonSerializer.Serialize(HolderDocument.From(holder), ToolJsonContext.Default.HolderDocument)
                    : HolderText.Fields(holder, DateTimeOffset.UtcNow));
                return ExitCodes.Done;
            }, cancellationToken));
        return command;
    }
}
