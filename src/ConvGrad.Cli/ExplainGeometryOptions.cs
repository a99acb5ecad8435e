using System.CommandLine;

namespace ConvGrad.Cli;

/// <summary>
/// The spatial geometry options of <c>convgrad explain</c> (<c>--input</c>, <c>--kernel</c>, <c>--stride</c>,
/// <c>--padding</c>, <c>--dilation</c>), read the same way from the command line and from the explorer page's URL query.
/// </summary>
/// <param name="Input">Spatial input size, 1 to 3 axes.</param>
/// <param name="Kernel">Spatial kernel size, as many axes.</param>
/// <param name="Stride">Stride per axis.</param>
/// <param name="PaddingBefore">Padding before, per axis.</param>
/// <param name="PaddingAfter">Padding after, per axis.</param>
/// <param name="Dilation">Dilation per axis.</param>
internal sealed record ExplainGeometryOptions(int[] Input, int[] Kernel, int[] Stride, int[] PaddingBefore, int[] PaddingAfter, int[] Dilation)
{
    /// <summary>The number of spatial axes.</summary>
    public int Dims => Input.Length;

    /// <summary>The declarations of the geometry options, one set per command that reads them.</summary>
    internal sealed class Declarations
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

        /// <summary>All five, in help order.</summary>
        public IEnumerable<Option> All => [Input, Kernel, Stride, Padding, Dilation];
    }

    /// <summary>Reads the options; one value of stride, padding or dilation applies to every axis.</summary>
    /// <exception cref="UsageException">A missing size or a list of the wrong length.</exception>
    public static ExplainGeometryOptions Read(ParseResult args, Declarations d)
    {
        int[] input = Given(args, d.Input) ?? throw new UsageException("missing --input (the spatial input size, e.g. --input 4x4)");
        int[] kernel = Given(args, d.Kernel) ?? throw new UsageException("missing --kernel (the spatial kernel size, e.g. --kernel 2x2)");
        int dims = input.Length;
        if (dims is < 1 or > 3)
        {
            throw new UsageException($"--input must have 1, 2 or 3 sizes; got {dims}");
        }
        if (kernel.Length != dims)
        {
            throw new UsageException($"--kernel has {kernel.Length} sizes but --input has {dims}");
        }
        int[] stride = PerAxis(Given(args, d.Stride), "stride", dims, 1);
        int[] dilation = PerAxis(Given(args, d.Dilation), "dilation", dims, 1);
        var (before, after) = Padding(Given(args, d.Padding), dims);
        return new ExplainGeometryOptions(input, kernel, stride, before, after, dilation);
    }

    /// <summary>The list given for <paramref name="option"/>; null when it is not given (System.CommandLine reads that as empty).</summary>
    private static int[]? Given(ParseResult args, Option<int[]?> option) => args.GetValue(option) is { Length: > 0 } v ? v : null;

    /// <summary>The convolution geometry with <paramref name="groups"/> groups.</summary>
    public ConvGeometry Geometry(int groups = 1) => new(Stride, PaddingBefore, PaddingAfter, Dilation, groups);

    private static int[] PerAxis(int[]? given, string name, int dims, int fallback)
    {
        int[] v = given ?? [fallback];
        if (v.Length == 1)
        {
            v = Enumerable.Repeat(v[0], dims).ToArray();
        }
        if (v.Length != dims)
        {
            throw new UsageException($"--{name} needs one value or one per axis ({dims}); got {v.Length}");
        }
        return v;
    }

    private static (int[] Before, int[] After) Padding(int[]? given, int dims)
    {
        int[] v = given ?? [0];
        if (v.Length == 1)
        {
            v = Enumerable.Repeat(v[0], dims).ToArray();
        }
        if (v.Length == dims)
        {
            return (v, v);
        }
        if (v.Length == 2 * dims)
        {
            return (v[..dims], v[dims..]);
        }
        throw new UsageException(
            $"--padding needs one value, one per axis ({dims}) or befores then afters ({2 * dims}{(dims == 2 ? ": top,left,bottom,right" : "")}); got {v.Length}");
    }
}
