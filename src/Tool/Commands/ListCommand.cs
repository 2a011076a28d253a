using System.CommandLine;
using System.Text.Json;
using ConsulLock.Aop.Tool.Output;

namespace ConsulLock.Aop.Tool.Commands;

/// <summary><c>consullock list [prefix]</c>: every held lock under a prefix, sorted by key.</summary>
internal static class ListCommand
{
    public static Command Create(ToolOptions tool, ToolConsole console)
    {
        var prefix = new Argument<string>("prefix")
        {
            Description = "Only keys that start with this text (as Consul's 'kv get -recurse' reads it); default: every key.",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => "",
        };
        var command = new Command("list", "List the held locks under a prefix: key, holder, since, fencing token, waiters; sorted by key.") { prefix };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(parse, tool, console, async (directory, token) =>
        {
            var holders = await directory.ListAsync(parse.GetValue(prefix) ?? "", token).ConfigureAwait(false);
            var sorted = holders.OrderBy(h => h.Key, StringComparer.Ordinal).ToList();
            if (parse.GetValue(tool.Json))
            {
                console.Line(JsonSerializer.Serialize(sorted.Select(HolderDocument.From).ToList(), ToolJsonContext.Default.ListHolderDocument));
            }
            else if (sorted.Count == 0)
            {
                console.Note(parse.GetValue(prefix) is { Length: > 0 } p ? $"No lock under '{p}' is held." : "No lock is held.");
            }
            else
            {
                console.Line(HolderText.Table(sorted, DateTimeOffset.UtcNow));
            }

            return ExitCodes.Done;
        }, cancellationToken));
        return command;
    }
}
