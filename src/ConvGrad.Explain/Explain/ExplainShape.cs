using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>
/// The geometry and sizes of an explanation, as a reader gives them (spatial sizes, stride, padding, dilation, and the
/// channel, batch and group counts), validated in the reader's own terms before anything is derived: every message
/// names the field as the page labels it or as the CLI spells it (<see cref="ExplainFields"/>), never a .NET parameter.
/// </summary>
/// <param name="Input">Spatial input size, 1 to 3 axes.</param>
/// <param name="Kernel">Spatial kernel size.</param>
/// <param name="Stride">Stride per axis.</param>
/// <param name="PaddingBefore">Padding before, per axis.</param>
/// <param name="PaddingAfter">Padding after, per axis.</param>
/// <param name="Dilation">Dilation per axis.</param>
/// <param name="Channels">Input channels C.</param>
/// <param name="OutChannels">Output channels K.</param>
/// <param name="Batch">Batch size N.</param>
/// <param name="Groups">Groups G.</param>
internal sealed record ExplainShape(
    int[] Input, int[] Kernel, int[] Stride, int[] PaddingBefore, int[] PaddingAfter, int[] Dilation,
    int Channels = 1, int OutChannels = 1, int Batch = 1, int Groups = 1)
{
    /// <summary>The number of spatial axes.</summary>
    public int Dims => Input.Length;

    /// <summary>I's shape <c>[N, C, in...]</c>.</summary>
    public int[] InputShape => [Batch, Channels, .. Input];

    /// <summary>K's shape <c>[K, C/G, k...]</c>.</summary>
    public int[] WeightShape => [OutChannels, Channels / Groups, .. Kernel];

    /// <summary>The convolution geometry.</summary>
    public ConvGeometry Geometry() => new(Stride, PaddingBefore, PaddingAfter, Dilation, Groups);

    /// <summary>
    /// Builds a shape from lists as typed: one stride, padding or dilation value applies to every axis; padding may also
    /// be one per axis or befores then afters. Null lists take their defaults (stride 1, padding 0, dilation 1).
    /// </summary>
    /// <exception cref="ExplainInputException">A missing size or a list of the wrong length.</exception>
    public static ExplainShape From(int[]? input, int[]? kernel, int[]? stride, int[]? padding, int[]? dilation, Func<ExplainField, string> name,
        int channels = 1, int outChannels = 1, int batch = 1, int groups = 1)
    {
        if (input is null or { Length: 0 })
        {
            throw new ExplainInputException(ExplainField.Input, $"missing {name(ExplainField.Input)} (the spatial input size, e.g. 4x4)");
        }
        if (kernel is null or { Length: 0 })
        {
            throw new ExplainInputException(ExplainField.Kernel, $"missing {name(ExplainField.Kernel)} (the spatial kernel size, e.g. 2x2)");
        }
        int dims = input.Length;
        if (dims > 3)
        {
            throw new ExplainInputException(ExplainField.Input, $"{name(ExplainField.Input)} must have 1, 2 or 3 sizes; got {dims}");
        }
        if (kernel.Length != dims)
        {
            throw new ExplainInputException(ExplainField.Kernel,
                $"{name(ExplainField.Kernel)} {Sizes(kernel)} has {Axes(kernel.Length)} but {name(ExplainField.Input)} {Sizes(input)} has {dims}");
        }
        int[] s = PerAxis(stride, ExplainField.Stride, dims, 1, name);
        int[] d = PerAxis(dilation, ExplainField.Dilation, dims, 1, name);
        int[] p = padding ?? [0];
        if (p.Length == 1)
        {
            p = Enumerable.Repeat(p[0], dims).ToArray();
        }
        if (p.Length != dims && p.Length != 2 * dims)
        {
            throw new ExplainInputException(ExplainField.Padding,
                $"{name(ExplainField.Padding)} needs one value, one per axis ({dims}) or befores then afters ({2 * dims}{(dims == 2 ? ": top,left,bottom,right" : "")}); got {p.Length}");
        }
        return new ExplainShape(input, kernel, s, p[..dims], p.Length == dims ? p : p[dims..], d, channels, outChannels, batch, groups);
    }

    /// <summary>
    /// Checks every field against the geometry rules and the limits of <paramref name="scope"/>, in the order a reader
    /// fixes them, naming fields with <paramref name="name"/>. After it passes, <see cref="Geometry"/> and the engine
    /// accept the shapes and the explanation holds at most <see cref="ExplainLimits.MaxTerms"/> terms.
    /// </summary>
    /// <exception cref="ExplainInputException">The first problem found.</exception>
    public void Validate(ExplainScope scope, Func<ExplainField, string> name)
    {
        if (Problem(scope, name, withAlternatives: true) is { } problem)
        {
            throw problem;
        }
    }

    /// <summary>Whether <see cref="Validate"/> passes.</summary>
    public bool Fits(ExplainScope scope) => Problem(scope, ExplainFields.Page, withAlternatives: false) is null;

    /// <summary>The output size per axis (valid only for a shape that passes the geometry checks).</summary>
    public int[] OutputSize() =>
        Enumerable.Range(0, Dims).Select(a => (Input[a] + PaddingBefore[a] + PaddingAfter[a] - Dilation[a] * (Kernel[a] - 1) - 1) / Stride[a] + 1).ToArray();

    /// <summary>The formula terms of the three passes (kept and dropped), as <see cref="Derivation.CountTerms"/> counts them.</summary>
    public Int128 Terms()
    {
        Int128 inSp = Product(Input), outSp = Product(OutputSize()), ker = Product(Kernel);
        int cg = Channels / Groups, kg = OutChannels / Groups;
        return 2 * (Int128)Batch * OutChannels * outSp * cg * ker + (Int128)Batch * Channels * inSp * kg * ker;
    }

    /// <summary>
    /// Smaller variants of this shape that <paramref name="scope"/> can show, each with the change in words (naming
    /// fields with <paramref name="name"/>): fewer batch items or channels first, then a smaller input, then a smaller
    /// kernel. At most two, distinct, in that order.
    /// </summary>
    public IReadOnlyList<(string Change, ExplainShape Shape)> Alternatives(ExplainScope scope, Func<ExplainField, string> name)
    {
        var found = new List<(string, ExplainShape)>();
        foreach (var (change, shape) in Candidates(scope, name))
        {
            if (!Same(shape, this) && shape.Fits(scope) && found.All(f => !Same(f.Item2, shape)))
            {
                found.Add((change, shape));
                if (found.Count == 2)
                {
                    break;
                }
            }
        }
        return found;
    }

    private IEnumerable<(string, ExplainShape)> Candidates(ExplainScope scope, Func<ExplainField, string> name)
    {
        var oneBatch = this with { Batch = 1 };
        var fewOut = this with { OutChannels = Groups };
        var fewIn = this with { Channels = Groups };
        var least = this with { Batch = 1, OutChannels = Groups, Channels = Groups };
        if (Batch > 1)
        {
            yield return ($"{name(ExplainField.Batch)} 1", oneBatch);
        }
        if (OutChannels > Groups)
        {
            yield return ($"{name(ExplainField.OutChannels)} {Groups}", fewOut);
        }
        if (Channels > Groups)
        {
            yield return ($"{name(ExplainField.Channels)} {Groups}", fewIn);
        }
        if (!Same(least, oneBatch) && !Same(least, fewOut) && !Same(least, fewIn) && !Same(least, this))
        {
            yield return (Counts(least, name), least);
        }
        // A smaller input (of the fewest channels): the largest size, the same on every axis that shrinks, that fits.
        int cap = scope == ExplainScope.Page ? ExplainLimits.MaxDrawnInput : int.MaxValue;
        bool inputFits = false;
        for (int size = Math.Min(cap, Input.Max()); size >= 1 && !inputFits; size--)
        {
            var smaller = least with { Input = Input.Select(v => Math.Min(v, size)).ToArray() };
            if (smaller.Fits(scope))
            {
                inputFits = true;
                yield return (Join(Counts(least, name), $"{name(ExplainField.Input)} {Sizes(smaller.Input)}"), smaller);
            }
        }
        // Only when no smaller input fits: a smaller kernel without padding.
        for (int size = inputFits ? 0 : Math.Min(Kernel.Max(), scope == ExplainScope.Page ? ExplainLimits.MaxDrawnKernel : int.MaxValue); size >= 1; size--)
        {
            var smaller = least with
            {
                Input = Input.Select(v => Math.Min(v, cap)).ToArray(),
                Kernel = Kernel.Select(v => Math.Min(v, size)).ToArray(),
                PaddingBefore = new int[Dims],
                PaddingAfter = new int[Dims],
            };
            if (smaller.Fits(scope))
            {
                string padding = PaddingBefore.Concat(PaddingAfter).Any(v => v != 0) ? $", {name(ExplainField.Padding)} 0" : "";
                string input = smaller.Input.SequenceEqual(Input) ? "" : $"{name(ExplainField.Input)} {Sizes(smaller.Input)}, ";
                yield return (Join(Counts(least, name), $"{input}{name(ExplainField.Kernel)} {Sizes(smaller.Kernel)}{padding}"), smaller);
                break;
            }
        }
    }

    private string Counts(ExplainShape least, Func<ExplainField, string> name)
    {
        var parts = new List<string>();
        if (Batch != least.Batch)
        {
            parts.Add($"{name(ExplainField.Batch)} 1");
        }
        if (OutChannels != least.OutChannels)
        {
            parts.Add($"{name(ExplainField.OutChannels)} {least.OutChannels}");
        }
        if (Channels != least.Channels)
        {
            parts.Add($"{name(ExplainField.Channels)} {least.Channels}");
        }
        return string.Join(", ", parts);
    }

    private static string Join(string a, string b) => a.Length == 0 ? b : a + ", " + b;

    private static bool Same(ExplainShape a, ExplainShape b) =>
        a.Input.SequenceEqual(b.Input) && a.Kernel.SequenceEqual(b.Kernel) && a.Stride.SequenceEqual(b.Stride) &&
        a.PaddingBefore.SequenceEqual(b.PaddingBefore) && a.PaddingAfter.SequenceEqual(b.PaddingAfter) && a.Dilation.SequenceEqual(b.Dilation) &&
        (a.Channels, a.OutChannels, a.Batch, a.Groups) == (b.Channels, b.OutChannels, b.Batch, b.Groups);

    private ExplainInputException? Problem(ExplainScope scope, Func<ExplainField, string> name, bool withAlternatives)
    {
        string In = name(ExplainField.Input), Ker = name(ExplainField.Kernel);
        if (Dims > ExplainLimits.MaxDims(scope))
        {
            return new ExplainInputException(ExplainField.Input,
                $"{In} {Sizes(Input)} has {Axes(Dims)}; the explorer draws 1-D and 2-D geometries (convgrad explain prints 3-D ones as text)");
        }
        if (Input.Any(v => v < 1))
        {
            return new ExplainInputException(ExplainField.Input, $"{In} sizes must be at least 1; got {Sizes(Input)}");
        }
        if (Kernel.Any(v => v < 1))
        {
            return new ExplainInputException(ExplainField.Kernel, $"{Ker} sizes must be at least 1; got {Sizes(Kernel)}");
        }
        if (Stride.Any(v => v < 1))
        {
            return new ExplainInputException(ExplainField.Stride, $"{name(ExplainField.Stride)} must be at least 1 on every axis; got {List(Stride)}");
        }
        if (Dilation.Any(v => v < 1))
        {
            return new ExplainInputException(ExplainField.Dilation, $"{name(ExplainField.Dilation)} must be at least 1 on every axis; got {List(Dilation)}");
        }
        if (PaddingBefore.Concat(PaddingAfter).Any(v => v < 0))
        {
            return new ExplainInputException(ExplainField.Padding, $"{name(ExplainField.Padding)} must be 0 or more on every axis; got {List([.. PaddingBefore, .. PaddingAfter])}");
        }
        foreach (var (f, v) in new[] { (ExplainField.Channels, Channels), (ExplainField.OutChannels, OutChannels), (ExplainField.Batch, Batch), (ExplainField.Groups, Groups) })
        {
            if (v < 1 || v > ExplainLimits.MaxCount(f))
            {
                return new ExplainInputException(f, $"{name(f)} must be between 1 and {ExplainLimits.MaxCount(f)}; got {v}");
            }
        }
        if (Channels % Groups != 0 || OutChannels % Groups != 0)
        {
            return new ExplainInputException(ExplainField.Groups,
                $"{name(ExplainField.Channels)} {Channels} and {name(ExplainField.OutChannels)} {OutChannels} must both be divisible by {name(ExplainField.Groups)} {Groups}");
        }
        if (scope == ExplainScope.Page && DrawingProblem(name, withAlternatives) is { } drawing)
        {
            return drawing;
        }
        for (int a = 0; a < Dims; a++)
        {
            long padded = (long)Input[a] + PaddingBefore[a] + PaddingAfter[a];
            long span = (long)Dilation[a] * (Kernel[a] - 1) + 1;
            if (span > padded)
            {
                return new ExplainInputException(ExplainField.Kernel,
                    $"{Ker} {Sizes(Kernel)} does not fit: the dilated kernel ({span} = dilation {Dilation[a]} × ({Kernel[a]} − 1) + 1) is larger than " +
                    $"the padded input ({padded} = {Input[a]} + {PaddingBefore[a]} + {PaddingAfter[a]}) on the {AxisName(Dims, a)} axis");
            }
        }
        Int128 terms = Terms();
        if (terms > ExplainLimits.MaxTerms)
        {
            var alternatives = withAlternatives ? Alternatives(scope, name) : [];
            string instead = alternatives.Count == 0 ? ""
                : "; it fits with " + string.Join(" or with ", alternatives.Select(x => $"{x.Change} ({Count(x.Shape.Terms())} terms)"));
            return new ExplainInputException(null,
                $"too large: this geometry has {Count(terms)} formula terms, more than the {Count(ExplainLimits.MaxTerms)} that both the explorer and convgrad explain show{instead}", tooLarge: true);
        }
        return null;
    }

    private ExplainInputException? DrawingProblem(Func<ExplainField, string> name, bool withAlternatives)
    {
        (ExplainField Field, int[] Values, int Max)[] limits =
        [
            (ExplainField.Input, Input, ExplainLimits.MaxDrawnInput),
            (ExplainField.Kernel, Kernel, ExplainLimits.MaxDrawnKernel),
            (ExplainField.Stride, Stride, ExplainLimits.MaxDrawnStep),
            (ExplainField.Padding, [.. PaddingBefore, .. PaddingAfter], ExplainLimits.MaxDrawnStep),
            (ExplainField.Dilation, Dilation, ExplainLimits.MaxDrawnStep),
        ];
        foreach (var (field, values, max) in limits)
        {
            if (values.Any(v => v > max))
            {
                string given = field is ExplainField.Input or ExplainField.Kernel ? Sizes(values) : List(values);
                string text = Fits(ExplainScope.Text)
                    ? "convgrad explain prints it as text"
                    : $"it also has {Count(Terms())} formula terms, more than the {Count(ExplainLimits.MaxTerms)} that convgrad explain prints";
                var alternatives = withAlternatives ? Alternatives(ExplainScope.Page, name) : [];
                string instead = alternatives.Count == 0 ? "" : "; the page can show " + string.Join(" or ", alternatives.Select(x => x.Change));
                return new ExplainInputException(field,
                    $"{name(field)} {given} is larger than the page draws ({name(ExplainField.Input)} at most {ExplainLimits.MaxDrawnInput} per axis, " +
                    $"{name(ExplainField.Kernel)} {ExplainLimits.MaxDrawnKernel}, {name(ExplainField.Stride)}, {name(ExplainField.Padding)} and " +
                    $"{name(ExplainField.Dilation)} {ExplainLimits.MaxDrawnStep}); {text}{instead}", tooLarge: true);
            }
        }
        return null;
    }

    private static int[] PerAxis(int[]? given, ExplainField field, int dims, int fallback, Func<ExplainField, string> name)
    {
        int[] v = given is null or { Length: 0 } ? [fallback] : given;
        if (v.Length == 1)
        {
            v = Enumerable.Repeat(v[0], dims).ToArray();
        }
        if (v.Length != dims)
        {
            throw new ExplainInputException(field, $"{name(field)} needs one value or one per axis ({dims}); got {v.Length}");
        }
        return v;
    }

    /// <summary>The axis names of a <paramref name="dims"/>-axis geometry, as the explanations write them.</summary>
    public static string AxisName(int dims, int a) => dims switch
    {
        1 => "position",
        2 => a == 0 ? "row" : "column",
        _ => a switch { 0 => "depth", 1 => "row", _ => "column" },
    };

    private static string Axes(int n) => n == 1 ? "1 axis" : $"{n} axes";

    /// <summary>Sizes as typed: <c>4x4</c>.</summary>
    public static string Sizes(IEnumerable<int> v) => string.Join("x", v);

    /// <summary>A list as typed: one value when all agree, else comma-separated.</summary>
    public static string List(int[] v) => v.Distinct().Count() == 1 ? v[0].ToString(CultureInfo.InvariantCulture) : string.Join(",", v);

    private static string Count(Int128 v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static Int128 Product(int[] v) => v.Aggregate((Int128)1, (p, x) => p * x);
}
