using System.CommandLine;
using ConvGrad.Explain;

namespace ConvGrad.Cli;

/// <summary>
/// The geometry options of <c>convgrad explain</c> (<c>--input</c>, <c>--kernel</c>, <c>--stride</c>, <c>--padding</c>,
/// <c>--dilation</c>, <c>--channels</c>, <c>--out-channels</c>, <c>--batch</c>, <c>--groups</c>), declared once per command
/// and read into an <see cref="ExplainShape"/>; the count options take their upper limits from <see cref="ExplainLimits"/>,
/// the one definition the explorer page and its API use too.
/// </summary>
internal sealed class ExplainGeometryOptions
{
    /// <summary><c>--input</c>.</summary>
    public Option<int[]?> Input { get; } = CliOptions.IntList("input", "spatial input size, 1-3 axes: 8, 4x4 or 3x4x4");

    /// <summary><c>--kernel</c>.</summary>
    public Option<int[]?> Kernel { get; } = CliOptions.IntList("kernel", "spatial kernel size, same number of axes");

    /// <summary><c>--stride</c>.</summary>
    public Option<int[]?> Stride { get; } = CliOptions.IntList("stride", "one number or one per axis (default 1)", "S");

    /// <summary><c>--padding</c>.</summary>
    public Option<int[]?> Padding { get; } = CliOptions.IntList("padding",
        "one number, one per axis, or befores then afters (2-D: top,left,bottom,right); default 0", "P");

    /// <summary><c>--dilation</c>.</summary>
    public Option<int[]?> Dilation { get; } = CliOptions.IntList("dilation", "one number or one per axis (default 1)", "D");

    /// <summary><c>--channels</c>.</summary>
    public Option<int> Channels { get; } = CliOptions.Int("channels", $"input channels C (at most {ExplainLimits.MaxChannels})", 1, min: 1, max: ExplainLimits.MaxChannels);

    /// <summary><c>--out-channels</c>.</summary>
    public Option<int> OutChannels { get; } = CliOptions.Int("out-channels", $"output channels K (at most {ExplainLimits.MaxChannels})", 1, min: 1, max: ExplainLimits.MaxChannels);

    /// <summary><c>--batch</c>.</summary>
    public Option<int> Batch { get; } = CliOptions.Int("batch", $"batch size N (at most {ExplainLimits.MaxBatch})", 1, min: 1, max: ExplainLimits.MaxBatch);

    /// <summary><c>--groups</c>.</summary>
    public Option<int> Groups { get; } = CliOptions.Int("groups", $"groups G, dividing C and K (at most {ExplainLimits.MaxGroups})", 1, min: 1, max: ExplainLimits.MaxGroups);

    /// <summary>The spatial options, in help order.</summary>
    public IEnumerable<Option> Spatial => [Input, Kernel, Stride, Padding, Dilation];

    /// <summary>All nine, in help order.</summary>
    public IEnumerable<Option> All => [.. Spatial, Channels, OutChannels, Batch, Groups];

    /// <summary>Reads the options into a shape (one value of stride, padding or dilation applies to every axis), not yet validated.</summary>
    /// <exception cref="ExplainInputException">A missing size or a list of the wrong length, naming the option.</exception>
    public ExplainShape Read(ParseResult args) =>
        ExplainShape.From(Given(args, Input), Given(args, Kernel), Given(args, Stride), Given(args, Padding), Given(args, Dilation), ExplainFields.CommandLine,
            args.GetValue(Channels), args.GetValue(OutChannels), args.GetValue(Batch), args.GetValue(Groups));

    /// <summary>The list given for <paramref name="option"/>; null when it is not given (System.CommandLine reads that as empty).</summary>
    private static int[]? Given(ParseResult args, Option<int[]?> option) => args.GetValue(option) is { Length: > 0 } v ? v : null;
}
