using System.CommandLine;
using System.Text.Json;
using ConsulLock.Aop.Tool.Output;

namespace ConsulLock.Aop.Tool.Commands;

/// <summary><c>consullock watch &lt;key&gt;</c>: the holder now, then a line per change, until Ctrl+C.</summary>
internal static class WatchCommand
{
    public static Command Create(ToolOptions tool, ToolConsole console)
    {
        var key = CommandRunner.KeyArgument();
        var command = new Command("watch", "Print the lock's holder now, then a line each time it changes (a new holder, or free), until Ctrl+C.") { key };
        command.SetAction((parse, cancellationToken) =>
            CommandRunner.RunOnKeyAsync(parse, key, tool, console, async (name, directory, token) =>
            {
                var json = parse.GetValue(tool.Json);

                // The watch rides out Consul being unreachable, forever; a read first makes a wrong address or token fail
                // with exit 3 instead of waiting in silence.
                await directory.GetAsync(name, token).ConfigureAwait(false);
                try
                {
                    await foreach (var holder in directory.WatchAsync(name, token).ConfigureAwait(false))
                    {
                        var seen = DateTimeOffset.UtcNow;
                        console.Line(json
                            ? JsonSerializer.Serialize(new WatchEvent(seen, name, holder is null ? null : HolderDocument.From(holder)), ToolJsonContext.Default.WatchEvent)
                            : HolderText.Change(name, holder, seen));
                    }
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    // Ctrl+C (or SIGTERM): the way a watch ends.
                }

                return ExitCodes.Done;
            }, cancellationToken));
        return command;
    }
}
