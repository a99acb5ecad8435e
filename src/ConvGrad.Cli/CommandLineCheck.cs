using System.CommandLine;
using System.CommandLine.Parsing;

namespace ConvGrad.Cli;

/// <summary>
/// Turns what System.CommandLine found wrong with a command line into the one-line messages of <c>convgrad</c>:
/// an option given twice, an option without its value, an unknown option or argument, a value a parser refused.
/// </summary>
internal static class CommandLineCheck
{
    /// <summary>Throws <see cref="UsageException"/> with the first problem of <paramref name="parsed"/>.</summary>
    public static void ThrowIfInvalid(ParseResult parsed)
    {
        foreach (var option in parsed.CommandResult.Command.Options)
        {
            if (parsed.GetResult(option) is not OptionResult { Implicit: false } given)
            {
                continue;
            }
            if (given.IdentifierTokenCount > 1)
            {
                throw new UsageException($"option {option.Name} is given more than once");
            }
            if (given.Tokens.Count == 0 && option.Arity.MinimumNumberOfValues > 0)
            {
                throw new UsageException($"option {option.Name} needs a value");
            }
        }
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            throw new UsageException(token.Length > 1 && token[0] == '-'
                ? $"unknown option {token.Split('=', 2)[0]}"
                : $"unexpected argument '{token}'");
        }
        if (parsed.Errors.Count > 0)
        {
            throw new UsageException(parsed.Errors[0].Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>Whether the user gave <paramref name="option"/> (rather than it taking its default).</summary>
    public static bool Given(this ParseResult parsed, Option option) => parsed.GetResult(option) is OptionResult { Implicit: false };
}
