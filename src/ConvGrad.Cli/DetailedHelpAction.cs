using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace ConvGrad.Cli;

/// <summary>
/// System.CommandLine's help with one convention of convgrad's declarations: the first paragraph of a command's
/// description is its summary (the line in <c>convgrad help</c>'s command list), the rest is printed after the
/// options of that command's own help. Both come from the command's one <see cref="Command"/> declaration.
/// </summary>
internal sealed class DetailedHelpAction : SynchronousCommandLineAction
{
    private readonly HelpAction _help;
    private readonly Dictionary<Command, string> _details = [];

    /// <summary>Splits every sub-command's description of <paramref name="root"/> and takes over its help option.</summary>
    public DetailedHelpAction(RootCommand root)
    {
        var option = root.Options.OfType<HelpOption>().Single();
        _help = (HelpAction)option.Action!;
        option.Action = this;
        foreach (var command in root.Subcommands)
        {
            string text = (command.Description ?? "").ReplaceLineEndings("\n");
            int end = text.IndexOf("\n\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                command.Description = text[..end];
                _details[command] = text[(end + 2)..].TrimEnd();
            }
        }
    }

    /// <summary>Writes the generated help, then the command's details.</summary>
    public override int Invoke(ParseResult parseResult)
    {
        int code = _help.Invoke(parseResult);
        if (_details.TryGetValue(parseResult.CommandResult.Command, out var details))
        {
            var output = parseResult.InvocationConfiguration.Output;
            foreach (var line in details.Split('\n'))
            {
                output.WriteLine(line.Length == 0 ? "" : "  " + line);
            }
            output.WriteLine();
        }
        return code;
    }
}
