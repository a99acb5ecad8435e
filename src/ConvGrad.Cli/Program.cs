using System.CommandLine;
using System.CommandLine.Invocation;

namespace ConvGrad.Cli;

/// <summary>Entry point of <c>convgrad</c>: dispatches to one command per file.</summary>
/// <remarks>
/// The command line is parsed by System.CommandLine (not Spectre.Console.Cli): each command declares its options as
/// typed <see cref="Option{T}"/> objects and reads its values through those same objects, so the help, the defaults it
/// shows and the shell completions (the <c>[suggest]</c> directive that <c>dotnet-suggest</c> calls) cannot drift from
/// what the command reads; it needs no reflection over settings classes (trimming-safe), parses <c>--name=value</c>
/// as the explorer's URL queries need, and leaves the output streams to us, so every message stays one line on the
/// writer the caller (or a test) passes. Spectre.Console only draws the live progress, where output is a terminal.
/// </remarks>
public static class Program
{
    private const string Description = "convgrad: convolution layers and their gradients, checked, explained and fast";

    /// <summary>Runs <c>convgrad</c> with the given arguments and returns the exit code.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs <c>convgrad</c> writing to the given streams (used by tests).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        // One declaration per call: each command holds its own option objects, and tests run in parallel.
        CliCommand[] commands = [new VerifyCommand(), new TrainCommand(), new PredictCommand(), new ExportCommand(), new ExplainCommand(), new BenchCommand(), new GpuBenchCommand()];
        // HelpName: the usage lines say convgrad however the program was started (dotnet run, the dll, a test host).
        var root = new RootCommand(Description) { HelpName = "convgrad" };
        foreach (var c in commands)
        {
            root.Subcommands.Add(c.Declaration);
        }
        _ = new DetailedHelpAction(root);
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke(invocation);
            return ExitCodes.BadUsage;
        }
        if (args[0] == "help")
        {
            args = args.Length > 1 ? [args[1], "--help"] : ["--help"];
        }
        if (!args[0].StartsWith('-') && !args[0].StartsWith('[') && commands.All(c => c.Declaration.Name != args[0]))
        {
            stderr.WriteLine($"convgrad: unknown command '{args[0]}' (try 'convgrad help')");
            return ExitCodes.BadUsage;
        }

        // No response files: an argument starting with @ is a value like any other, as it always was.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Action is not null and not ParseErrorAction)
        {
            // --help, --version and the [suggest] directive of shell completion.
            return parsed.Invoke(invocation);
        }
        var command = commands.FirstOrDefault(c => c.Declaration == parsed.CommandResult.Command);
        if (command is null)
        {
            string problem = parsed.UnmatchedTokens.Count > 0 ? $"unknown option {parsed.UnmatchedTokens[0]}" : "missing command";
            stderr.WriteLine($"convgrad: {problem} (try 'convgrad help')");
            return ExitCodes.BadUsage;
        }
        string name = command.Declaration.Name;
        try
        {
            CommandLineCheck.ThrowIfInvalid(parsed);
            return command.Run(parsed, stdout, stderr);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"convgrad {name}: {OneLine(e.Message)}");
            return ExitCodes.BadUsage;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            stderr.WriteLine($"convgrad {name}: {OneLine(e.Message)}");
            return ExitCodes.BadUsage;
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
