namespace ConvGrad.Cli;

/// <summary>Entry point of <c>convgrad</c>: dispatches to one command per file.</summary>
public static class Program
{
    private static readonly ICommand[] Commands =
    [
        new VerifyCommand(),
        new TrainCommand(),
        new PredictCommand(),
        new ExplainCommand(),
        new BenchCommand(),
        new GpuBenchCommand(),
    ];

    /// <summary>Runs <c>convgrad</c> with the given arguments and returns the exit code.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs <c>convgrad</c> writing to the given streams (used by tests).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            if (args.Length > 1 && Find(args[1]) is { } c)
            {
                stdout.WriteLine(c.Usage);
                return ExitCodes.Success;
            }
            PrintHelp(stdout);
            return args.Length == 0 ? ExitCodes.BadUsage : ExitCodes.Success;
        }
        var command = Find(args[0]);
        if (command is null)
        {
            stderr.WriteLine($"convgrad: unknown command '{args[0]}' (try 'convgrad help')");
            return ExitCodes.BadUsage;
        }
        if (args.Skip(1).Any(a => a is "--help" or "-h"))
        {
            stdout.WriteLine(command.Usage);
            return ExitCodes.Success;
        }
        try
        {
            var parsed = new Args(args.Skip(1), command.Flags);
            return command.Run(parsed, stdout, stderr);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"convgrad {command.Name}: {e.Message}");
            return ExitCodes.BadUsage;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            stderr.WriteLine($"convgrad {command.Name}: {OneLine(e.Message)}");
            return ExitCodes.BadUsage;
        }
    }

    private static ICommand? Find(string name) => Commands.FirstOrDefault(c => c.Name == name);

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");

    private static void PrintHelp(TextWriter o)
    {
        o.WriteLine("convgrad: convolution layers and their gradients, checked, explained and fast");
        o.WriteLine();
        o.WriteLine("usage: convgrad <command> [options]   (convgrad help <command> for its options)");
        o.WriteLine();
        foreach (var c in Commands)
        {
            o.WriteLine($"  {c.Name,-10} {c.Summary}");
        }
    }
}
