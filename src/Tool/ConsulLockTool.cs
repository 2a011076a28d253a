using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;
using ConsulLock.Aop.Tool.Commands;

namespace ConsulLock.Aop.Tool;

/// <summary>
/// <c>consullock</c>: who holds a Consul lock, since when, who waits; watch it; force its release. The command line
/// is parsed here, and every way out of it is one of <see cref="ExitCodes"/>.
/// </summary>
internal static class ConsulLockTool
{
    public static async Task<int> RunAsync(string[] arguments, TextWriter output, TextWriter error)
    {
        var secrets = new Secrets(arguments, Environment.GetEnvironmentVariable(ToolOptions.TokenVariable));
        var console = new ToolConsole(output, error, secrets);
        var tool = new ToolOptions();
        // A command named for the tool rather than a RootCommand, whose name is the running file's
        // (ConsulLock.Aop.Tool.dll under `dotnet tool`): help's usage line shows what a user types.
        var root = new Command("consullock", "Who holds a ConsulLock.Aop (or Consul Go client) lock, since when, and who waits; watch a lock; force its release.")
        {
            new HelpOption(),
            new VersionOption(),
            ListCommand.Create(tool, console),
            ShowCommand.Create(tool, console),
            WatchCommand.Create(tool, console),
            ReleaseCommand.Create(tool, console),
        };
        root.Options.Add(tool.Address);
        root.Options.Add(tool.Token);
        root.Options.Add(tool.Json);

        // No response files: "@x" is an argument like any other (a token may start with '@').
        var parse = root.Parse(arguments, new ParserConfiguration { ResponseFileTokenReplacer = null });

        // The parser takes an unknown option for a value when a command has an argument left to fill ("list --jsn" lists
        // the prefix "--jsn"); a key or prefix that really starts with '-' goes after "--".
        var optionsTakenForValues = arguments.Contains("--")
            ? []
            : parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value).Where(v => v.StartsWith('-')).ToList();
        if ((parse.Errors.Count > 0 || optionsTakenForValues.Count > 0) && parse.Action is not HelpAction)
        {
            // What follows a misspelt option may be its value, a token ("--tokn SECRET"): never echoed.
            secrets.AddValuesAfterUnknownOptions(arguments, parse.UnmatchedTokens.Concat(optionsTakenForValues));
            foreach (var option in optionsTakenForValues)
            {
                console.Fail($"Unrecognized option '{option}' (a key or prefix that starts with '-' goes after '--').");
            }

            foreach (var problem in parse.Errors)
            {
                console.Fail(problem.Message);
            }

            var command = parse.CommandResult.Command == root ? "" : parse.CommandResult.Command.Name + " ";
            console.Note($"Run 'consullock {command}--help' for usage.");
            return ExitCodes.Usage;
        }

        // Ctrl+C and SIGTERM cancel the command's token and let it finish: a watch ends with exit 0, anything else with
        // 130. System.CommandLine's own handling would exit 130 for a watch too, so it is off (no termination timeout).
        using var interrupted = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        var invocation = new InvocationConfiguration
        {
            Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
        };
        return await parse.InvokeAsync(invocation, interrupted.Token).ConfigureAwait(false);

        void Interrupt(PosixSignalContext context)
        {
            context.Cancel = true;
            interrupted.Cancel();
        }
    }
}
