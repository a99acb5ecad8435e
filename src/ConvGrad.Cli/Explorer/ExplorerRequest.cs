using System.CommandLine;
using System.Globalization;
using ConvGrad.Explain;

namespace ConvGrad.Cli.Explorer;

/// <summary>
/// A geometry for the derivation explorer, from a URL query named like the form's fields
/// (<c>?input=4x4&amp;kernel=2x2&amp;stride=2&amp;padding=1&amp;dilation=1&amp;channels=2&amp;out-channels=2&amp;batch=1&amp;groups=1&amp;seed=1&amp;base=0</c>)
/// or from the command line (<c>--html</c>), checked against what the page can draw before anything is derived. Every
/// message names the field as the form labels it (<see cref="ExplainFields.Label"/>); <see cref="ExplainInputException.Field"/>
/// says which field to correct.
/// </summary>
internal sealed record ExplorerRequest(ExplainShape Shape, int Seed, bool ZeroBased)
{
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
    /// <exception cref="ExplainInputException">A bad, unknown or oversized value, in the page's words.</exception>
    public static ExplorerRequest FromQuery(IEnumerable<KeyValuePair<string, string>> query)
    {
        var request = FromQueryUnchecked(query);
        request.Shape.Validate(ExplainScope.Page, ExplainFields.Page);
        return request;
    }

    /// <summary>Reads a URL query without checking the shape's geometry and limits (only its syntax).</summary>
    /// <exception cref="ExplainInputException">A value that does not parse, or an unknown field.</exception>
    public static ExplorerRequest FromQueryUnchecked(IEnumerable<KeyValuePair<string, string>> query)
    {
        var given = new Dictionary<ExplainField, string>();
        foreach (var (key, value) in query)
        {
            var field = ExplainFields.FromKey(key);
            if (field is null)
            {
                string known = string.Join(", ", Enum.GetValues<ExplainField>().Select(ExplainFields.Key));
                throw new ExplainInputException(null, $"the address names an unknown field '{Truncate(key)}' (the fields are {known})");
            }
            if (value.Length > MaxValueLength)
            {
                throw new ExplainInputException(field, $"{ExplainFields.Label(field.Value)} is too long ({value.Length} characters)");
            }
            if (value.Trim().Length > 0)
            {
                given[field.Value] = value.Trim();
            }
        }
        if (!given.ContainsKey(ExplainField.Input) && !given.ContainsKey(ExplainField.Kernel))
        {
            foreach (var (key, value) in Default)
            {
                given.TryAdd(ExplainFields.FromKey(key)!.Value, value);
            }
        }
        int[]? List(ExplainField f) => given.TryGetValue(f, out var v) ? ParseList(f, v) : null;
        int Count(ExplainField f, int fallback) => given.TryGetValue(f, out var v) ? ParseInt(f, v) : fallback;
        var shape = ExplainShape.From(List(ExplainField.Input), List(ExplainField.Kernel), List(ExplainField.Stride), List(ExplainField.Padding),
            List(ExplainField.Dilation), ExplainFields.Page,
            Count(ExplainField.Channels, 1), Count(ExplainField.OutChannels, 1), Count(ExplainField.Batch, 1), Count(ExplainField.Groups, 1));
        int seed = Count(ExplainField.Seed, 1);
        if (seed < 0)
        {
            throw new ExplainInputException(ExplainField.Seed, $"seed must be 0 or more; got {seed}");
        }
        int indexBase = Count(ExplainField.Base, 1);
        if (indexBase is not (0 or 1))
        {
            throw new ExplainInputException(ExplainField.Base, $"index base must be 1 (the question's) or 0 (PyTorch's); got {indexBase}");
        }
        return new ExplorerRequest(shape, seed, indexBase == 0);
    }

    /// <summary>Reads the geometry and <c>--seed</c> from parsed options (<c>--html</c>) and checks them against what the page draws, naming the options.</summary>
    /// <exception cref="ExplainInputException">A bad or oversized value.</exception>
    public static ExplorerRequest FromArgs(ParseResult args, ExplainGeometryOptions geometry, Option<int> seedOption, bool zeroBased)
    {
        var shape = geometry.Read(args);
        shape.Validate(ExplainScope.Page, ExplainFields.CommandLine);
        return new ExplorerRequest(shape, args.GetValue(seedOption), zeroBased);
    }

    /// <summary>Derives the page's model (the request has been validated: the geometry is valid and within every limit).</summary>
    public ExplorerModel Derive() => ExplorerModel.Build(Derivation.Derive(Shape.Geometry(), Shape.InputShape, Shape.WeightShape), Seed, ZeroBased);

    /// <summary>This request in the other index base.</summary>
    public ExplorerRequest OtherBase() => this with { ZeroBased = !ZeroBased };

    /// <summary>The query that names this request, as the page's form shows it.</summary>
    public IReadOnlyDictionary<string, string> Query => QueryOf(Shape, Seed, ZeroBased);

    /// <summary>The query of a shape (also the links the page offers instead of a geometry it cannot show).</summary>
    public static IReadOnlyDictionary<string, string> QueryOf(ExplainShape shape, int seed, bool zeroBased) => new Dictionary<string, string>
    {
        ["input"] = ExplainShape.Sizes(shape.Input),
        ["kernel"] = ExplainShape.Sizes(shape.Kernel),
        ["stride"] = ExplainShape.List(shape.Stride),
        ["padding"] = shape.PaddingBefore.SequenceEqual(shape.PaddingAfter)
            ? ExplainShape.List(shape.PaddingBefore)
            : string.Join(",", shape.PaddingBefore.Concat(shape.PaddingAfter)),
        ["dilation"] = ExplainShape.List(shape.Dilation),
        ["channels"] = shape.Channels.ToString(CultureInfo.InvariantCulture),
        ["out-channels"] = shape.OutChannels.ToString(CultureInfo.InvariantCulture),
        ["batch"] = shape.Batch.ToString(CultureInfo.InvariantCulture),
        ["groups"] = shape.Groups.ToString(CultureInfo.InvariantCulture),
        ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        ["base"] = zeroBased ? "0" : "1",
    };

    /// <summary>A list of whole numbers separated by <c>x</c> or commas, as the form takes them.</summary>
    private static int[] ParseList(ExplainField f, string s)
    {
        var parts = s.Split([',', 'x', 'X'], StringSplitOptions.TrimEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result[i]))
            {
                string example = f is ExplainField.Input or ExplainField.Kernel ? "8 or 4x4" : f == ExplainField.Padding ? "1, 1,2 or 1,1,2,2" : "2 or 2,1";
                throw new ExplainInputException(f, $"{ExplainFields.Label(f)} must be whole numbers such as {example}; got '{s}'");
            }
        }
        return result;
    }

    private static int ParseInt(ExplainField f, string s) =>
        int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new ExplainInputException(f, $"{ExplainFields.Label(f)} must be a whole number; got '{s}'");

    private static string Truncate(string s) => s.Length <= 20 ? s : s[..20] + "…";
}
