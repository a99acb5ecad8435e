using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace ConvGrad.Cli;

/// <summary>
/// Declares <c>--name value</c> options for System.CommandLine with convgrad's value rules and messages: the
/// default shown by the help is the one the command reads, a value outside its range is refused with one line
/// naming the option, the value and the range.
/// </summary>
internal static class CliOptions
{
    /// <summary>An integer option with a default and an inclusive range.</summary>
    public static Option<int> Int(string name, string description, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        new("--" + name)
        {
            Description = description,
            HelpName = "N",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => r.Tokens.Count == 0 ? fallback : ParseInt(r, name, min, max) ?? fallback,
        };

    /// <summary>An integer option whose default depends on other options (null when not given).</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = int.MinValue, int max = int.MaxValue) =>
        new("--" + name)
        {
            Description = description,
            HelpName = "N",
            CustomParser = r => r.Tokens.Count == 0 ? null : ParseInt(r, name, min, max),
        };

    /// <summary>A finite number option with a default and an inclusive range.</summary>
    public static Option<double> Double(string name, string description, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity) =>
        new("--" + name)
        {
            Description = description,
            HelpName = "X",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => r.Tokens.Count == 0 ? fallback : ParseDouble(r, name, min, max) ?? fallback,
        };

    /// <summary>A number option whose default depends on other options (null when not given).</summary>
    public static Option<double?> OptionalDouble(string name, string description, double min = double.NegativeInfinity, double max = double.PositiveInfinity) =>
        new("--" + name)
        {
            Description = description,
            HelpName = "X",
            CustomParser = r => r.Tokens.Count == 0 ? null : ParseDouble(r, name, min, max),
        };

    /// <summary>A text option with a default; <paramref name="choices"/> (checked by the command, with its message) feed shell completion.</summary>
    public static Option<string> Text(string name, string description, string fallback, IEnumerable<string>? choices = null, string helpName = "NAME")
    {
        var o = new Option<string>("--" + name) { Description = description, HelpName = helpName, DefaultValueFactory = _ => fallback };
        if (choices is not null)
        {
            o.CompletionSources.Add([.. choices]);
        }
        return o;
    }

    /// <summary>A text option without a default (null when not given).</summary>
    public static Option<string?> OptionalText(string name, string description, IEnumerable<string>? choices = null, string helpName = "VALUE")
    {
        var o = new Option<string?>("--" + name) { Description = description, HelpName = helpName };
        if (choices is not null)
        {
            o.CompletionSources.Add([.. choices]);
        }
        return o;
    }

    /// <summary>A comma- or x-separated list of integers (e.g. <c>1,0,1,0</c> or <c>4x4</c>); null when not given.</summary>
    public static Option<int[]?> IntList(string name, string description, string helpName = "SIZES") =>
        new("--" + name)
        {
            Description = description,
            HelpName = helpName,
            DefaultValueFactory = _ => null,
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                {
                    return null;
                }
                try
                {
                    return ParseIntList(r.Tokens[0].Value, name);
                }
                catch (UsageException e)
                {
                    r.AddError(e.Message);
                    return null;
                }
            },
        };

    /// <summary>An option that takes no value.</summary>
    public static Option<bool> Flag(string name, string description) =>
        new("--" + name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>Parses a comma- or x-separated list of integers, naming <c>--<paramref name="name"/></c> when it is not one.</summary>
    public static int[] ParseIntList(string s, string name)
    {
        var parts = s.Split([',', 'x', 'X'], StringSplitOptions.TrimEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]))
            {
                throw new UsageException($"--{name} must be a list of integers such as 2 or 2,1 or 4x4; got '{s}'");
            }
        }
        return result;
    }

    private static int? ParseInt(ArgumentResult r, string name, int min, int max)
    {
        string s = r.Tokens[0].Value;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
        {
            r.AddError($"--{name} must be an integer; got '{s}'");
            return null;
        }
        if (v < min || v > max)
        {
            r.AddError($"--{name} must be between {min} and {max}; got {v}");
            return null;
        }
        return v;
    }

    private static double? ParseDouble(ArgumentResult r, string name, double min, double max)
    {
        string s = r.Tokens[0].Value;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
        {
            r.AddError($"--{name} must be a number; got '{s}'");
            return null;
        }
        if (v < min || v > max)
        {
            r.AddError($"--{name} must be between {min} and {max}; got {v}");
            return null;
        }
        return v;
    }
}
