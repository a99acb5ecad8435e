using System.CommandLine;
using System.Globalization;
using ConvGrad.Explain;

namespace ConvGrad.Cli.Explorer;

/// <summary>
/// A geometry for the derivation explorer, from a URL query named like the CLI options
/// (<c>?input=4x4&amp;kernel=2x2&amp;stride=2&amp;padding=1&amp;dilation=1&amp;seed=1</c>) or from the command line,
/// checked against the sizes the page can draw before anything is derived.
/// </summary>
internal sealed record ExplorerRequest(ExplainGeometryOptions Shape, int Seed)
{
    /// <summary>The largest input size per axis the page draws.</summary>
    public const int MaxInput = 12;
    /// <summary>The largest kernel size per axis.</summary>
    public const int MaxKernel = 7;
    /// <summary>The largest stride, dilation and padding.</summary>
    public const int MaxStep = 6;
    /// <summary>The longest query value read (longer ones are refused unparsed).</summary>
    private const int MaxValueLength = 64;

    /// <summary>The seed case: 4x4 input, 2x2 kernel, stride 2.</summary>
    public static IReadOnlyDictionary<string, string> Default { get; } = new Dictionary<string, string>
    {
        ["input"] = "4x4",
        ["kernel"] = "2x2",
        ["stride"] = "2",
    };

    /// <summary>Reads a URL query; with neither input nor kernel given, the seed case. Empty values count as absent.</summary>
    /// <exception cref="UsageException">A bad, unknown or oversized value, with the CLI's message.</exception>
    public static ExplorerRequest FromQuery(IEnumerable<KeyValuePair<string, string>> query)
    {
        var given = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in query)
        {
            if (value.Length > MaxValueLength || key.Length > MaxValueLength)
            {
                throw new UsageException($"--{Truncate(key)} is too long ({value.Length} characters); the explorer draws at most {MaxInput} per axis");
            }
            if (value.Length > 0)
            {
                given.Add(new(key, value));
            }
        }
        if (!given.Any(kv => kv.Key is "input" or "kernel"))
        {
            given.AddRange(Default.Where(d => !given.Any(g => g.Key == d.Key)));
        }
        // The query is read by the same option declarations as the command line: a command of the geometry and the seed.
        var geometry = new ExplainGeometryOptions.Declarations();
        var seed = SeedOption();
        var command = new Command("explorer") { Options = { seed } };
        foreach (var option in geometry.All)
        {
            command.Options.Add(option);
        }
        var parsed = command.Parse(given.Select(kv => $"--{kv.Key}={kv.Value}").ToArray());
        CommandLineCheck.ThrowIfInvalid(parsed);
        return FromArgs(parsed, geometry, seed);
    }

    /// <summary>The explorer's <c>--seed</c> (default 1, not negative).</summary>
    public static Option<int> SeedOption() => CliOptions.Int("seed", "seed of the random values used by the verification", 1, min: 0);

    /// <summary>Reads the geometry and <c>--seed</c> from parsed options and applies the page's upper limits (the geometry checks the lower ones, with the CLI's messages).</summary>
    public static ExplorerRequest FromArgs(ParseResult args, ExplainGeometryOptions.Declarations geometry, Option<int> seedOption)
    {
        var shape = ExplainGeometryOptions.Read(args, geometry);
        int seed = args.GetValue(seedOption);
        if (seed < 0)
        {
            throw new UsageException($"--seed must be between 0 and {int.MaxValue}; got {seed}");
        }
        if (shape.Dims > 2)
        {
            throw new UsageException($"the explorer draws 1-D and 2-D geometries; --input {Sizes(shape.Input)} has {shape.Dims} axes (the text of 'convgrad explain' covers 3-D)");
        }
        Limit("input", shape.Input, MaxInput);
        Limit("kernel", shape.Kernel, MaxKernel);
        Limit("stride", shape.Stride, MaxStep);
        Limit("dilation", shape.Dilation, MaxStep);
        Limit("padding", [.. shape.PaddingBefore, .. shape.PaddingAfter], MaxStep);
        return new ExplorerRequest(shape, seed);
    }

    /// <summary>Validates the geometry as the CLI does, refuses more terms than <c>explain</c> prints, and derives the page's model.</summary>
    /// <exception cref="ArgumentException">Invalid geometry (the CLI's message).</exception>
    /// <exception cref="UsageException">Too many terms.</exception>
    public ExplorerModel Derive()
    {
        return ExplorerModel.Build(ExplainCommand.DeriveSmall(Shape.Geometry(), [1, 1, .. Shape.Input], [1, 1, .. Shape.Kernel]), Seed);
    }

    /// <summary>The query that names this request, in the CLI's forms (what the page's form shows).</summary>
    public IReadOnlyDictionary<string, string> Query => new Dictionary<string, string>
    {
        ["input"] = Sizes(Shape.Input),
        ["kernel"] = Sizes(Shape.Kernel),
        ["stride"] = List(Shape.Stride),
        ["padding"] = Shape.PaddingBefore.SequenceEqual(Shape.PaddingAfter) ? List(Shape.PaddingBefore) : string.Join(",", Shape.PaddingBefore.Concat(Shape.PaddingAfter)),
        ["dilation"] = List(Shape.Dilation),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
    };

    private static void Limit(string name, int[] values, int max)
    {
        if (values.Any(v => v > max))
        {
            string list = name is "input" or "kernel" ? Sizes(values) : string.Join(",", values);
            throw new UsageException($"--{name} {list} is larger than the explorer draws (input at most {MaxInput} per axis, kernel {MaxKernel}, stride, padding and dilation {MaxStep}); 'convgrad explain' prints larger geometries as text");
        }
    }

    private static string Sizes(int[] v) => string.Join("x", v);

    private static string List(int[] v) => v.Distinct().Count() == 1 ? v[0].ToString(CultureInfo.InvariantCulture) : string.Join(",", v);

    private static string Truncate(string s) => s.Length <= 20 ? s : s[..20] + "…";
}
