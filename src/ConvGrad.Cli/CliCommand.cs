using System.CommandLine;

namespace ConvGrad.Cli;

/// <summary>
/// One <c>convgrad</c> sub-command: its <see cref="Command"/> declaration (name, description, options and arguments,
/// from which System.CommandLine generates the help and the completions) and the code that reads those same
/// declarations from a <see cref="ParseResult"/>.
/// </summary>
internal abstract class CliCommand
{
    /// <summary>The declaration: the word after <c>convgrad</c>, the help text and every option the command reads.</summary>
    public abstract Command Declaration { get; }

    /// <summary>
    /// Runs the command on a command line already checked by <see cref="CommandLineCheck.ThrowIfInvalid"/>; returns the
    /// exit code (0 success, 1 a check failed). Throws <see cref="UsageException"/> for bad usage.
    /// </summary>
    public abstract int Run(ParseResult parsed, TextWriter stdout, TextWriter stderr);
}
