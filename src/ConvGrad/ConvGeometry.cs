using System.Collections.Immutable;

namespace ConvGrad;

/// <summary>
/// The geometry of a convolution or transposed convolution with 1, 2 or 3 spatial axes: per-axis stride,
/// padding before and after (may differ), dilation, output padding (transposed convolution only) and groups.
/// Immutable; every constructor validates its arguments.
/// </summary>
/// <remarks>
/// Per spatial axis, with input size <c>in</c>, kernel size <c>k</c>, stride <c>s</c>, dilation <c>d</c> and
/// padding <c>pb</c>/<c>pa</c>:
/// <list type="bullet">
/// <item>convolution: <c>out = floor((in + pb + pa - d(k-1) - 1) / s) + 1</c>;</item>
/// <item>transposed convolution: <c>out = (in - 1)s + d(k-1) + 1 + output_padding - pb - pa</c>.</item>
/// </list>
/// Spatial arrays follow the axis order D, H, W (2-D: H, W).
/// </remarks>
public sealed class ConvGeometry
{
    /// <summary>Creates a geometry from per-axis arrays.</summary>
    /// <param name="stride">Stride per spatial axis, each &gt;= 1.</param>
    /// <param name="paddingBefore">Zero padding before each axis (top, left, ...), each &gt;= 0.</param>
    /// <param name="paddingAfter">Zero padding after each axis (bottom, right, ...), each &gt;= 0.</param>
    /// <param name="dilation">Dilation per spatial axis, each &gt;= 1.</param>
    /// <param name="groups">Number of channel groups, &gt;= 1.</param>
    /// <param name="outputPadding">Transposed convolution only: extra output rows at the high end of each axis; defaults to 0.</param>
    /// <exception cref="ArgumentException">An argument is out of range or the arrays disagree in length.</exception>
    public ConvGeometry(
        ReadOnlySpan<int> stride,
        ReadOnlySpan<int> paddingBefore,
        ReadOnlySpan<int> paddingAfter,
        ReadOnlySpan<int> dilation,
        int groups = 1,
        ReadOnlySpan<int> outputPadding = default)
    {
        Dims = stride.Length;
        if (Dims is < 1 or > 3)
        {
            throw new ArgumentException($"stride must have 1, 2 or 3 entries (one per spatial axis); got {Dims}", nameof(stride));
        }
        Stride = Check(stride, nameof(stride), 1, Dims);
        PaddingBefore = Check(paddingBefore, nameof(paddingBefore), 0, Dims);
        PaddingAfter = Check(paddingAfter, nameof(paddingAfter), 0, Dims);
        Dilation = Check(dilation, nameof(dilation), 1, Dims);
        OutputPadding = outputPadding.IsEmpty
            ? ImmutableArray.CreateRange(new int[Dims])
            : Check(outputPadding, nameof(outputPadding), 0, Dims);
        if (groups < 1)
        {
            throw new ArgumentException($"groups must be >= 1; got {groups}", nameof(groups));
        }
        Groups = groups;
    }

    /// <summary>
    /// Creates a geometry with the same stride, padding (before and after) and dilation on every one of
    /// <paramref name="dims"/> spatial axes.
    /// </summary>
    /// <param name="dims">The number of spatial axes (1, 2 or 3).</param>
    /// <param name="stride">The stride on every spatial axis.</param>
    /// <param name="padding">The padding before and after every spatial axis.</param>
    /// <param name="dilation">The dilation on every spatial axis.</param>
    /// <param name="groups">The number of channel groups (input and output channels must divide by it).</param>
    /// <param name="outputPadding">Extra size added at the end of every axis of a transposed convolution's output (less than stride or dilation).</param>
    public static ConvGeometry Uniform(int dims, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, int outputPadding = 0)
    {
        if (dims is < 1 or > 3)
        {
            throw new ArgumentException($"dims must be 1, 2 or 3; got {dims}", nameof(dims));
        }
        int[] Fill(int v) => Enumerable.Repeat(v, dims).ToArray();
        return new ConvGeometry(Fill(stride), Fill(padding), Fill(padding), Fill(dilation), groups, Fill(outputPadding));
    }

    /// <summary>
    /// PyTorch's <c>padding="same"</c>: stride 1, and per axis a total padding of <c>d(k-1)</c> split as
    /// <c>floor(total/2)</c> before and the rest after (so even kernels get the extra row after, as PyTorch does).
    /// </summary>
    /// <param name="kernelSpatial">Kernel size per spatial axis.</param>
    /// <param name="dilation">Dilation per spatial axis; defaults to 1.</param>
    /// <param name="groups">Number of channel groups.</param>
    public static ConvGeometry Same(ReadOnlySpan<int> kernelSpatial, ReadOnlySpan<int> dilation = default, int groups = 1)
    {
        int dims = kernelSpatial.Length;
        if (dims is < 1 or > 3)
        {
            throw new ArgumentException($"kernelSpatial must have 1, 2 or 3 entries; got {dims}", nameof(kernelSpatial));
        }
        int[] dil = dilation.IsEmpty ? Enumerable.Repeat(1, dims).ToArray() : dilation.ToArray();
        if (dil.Length != dims)
        {
            throw new ArgumentException($"dilation has {dil.Length} entries but the kernel has {dims} spatial axes", nameof(dilation));
        }
        var before = new int[dims];
        var after = new int[dims];
        for (int a = 0; a < dims; a++)
        {
            if (kernelSpatial[a] < 1)
            {
                throw new ArgumentException($"kernel sizes must be >= 1; got {Shapes.Format(kernelSpatial)}", nameof(kernelSpatial));
            }
            if (dil[a] < 1)
            {
                throw new ArgumentException($"dilation must be >= 1 on every axis; got {Shapes.Format(dil)}", nameof(dilation));
            }
            int total = dil[a] * (kernelSpatial[a] - 1);
            before[a] = total / 2;
            after[a] = total - before[a];
        }
        return new ConvGeometry(Enumerable.Repeat(1, dims).ToArray(), before, after, dil, groups);
    }

    /// <summary>PyTorch's <c>padding="valid"</c>: no padding, stride and dilation as given (default 1).</summary>
    /// <param name="dims">The number of spatial axes (1, 2 or 3).</param>
    /// <param name="stride">The stride on every spatial axis.</param>
    /// <param name="dilation">The dilation on every spatial axis.</param>
    /// <param name="groups">The number of channel groups (input and output channels must divide by it).</param>
    public static ConvGeometry Valid(int dims, int stride = 1, int dilation = 1, int groups = 1) =>
        Uniform(dims, stride, 0, dilation, groups);

    /// <summary>The last convolution problem resolved with this geometry (immutable; reused when the shapes repeat).</summary>
    internal ConvProblem? LastConv;

    /// <summary>The last transposed-convolution problem resolved with this geometry.</summary>
    internal ConvProblem? LastTranspose;

    /// <summary>Number of spatial axes (1, 2 or 3).</summary>
    public int Dims { get; }

    /// <summary>Stride per spatial axis.</summary>
    public ImmutableArray<int> Stride { get; }

    /// <summary>Zero padding before each spatial axis (2-D: top, left).</summary>
    public ImmutableArray<int> PaddingBefore { get; }

    /// <summary>Zero padding after each spatial axis (2-D: bottom, right).</summary>
    public ImmutableArray<int> PaddingAfter { get; }

    /// <summary>Dilation per spatial axis.</summary>
    public ImmutableArray<int> Dilation { get; }

    /// <summary>Transposed convolution only: extra output positions at the high end of each axis.</summary>
    public ImmutableArray<int> OutputPadding { get; }

    /// <summary>Number of channel groups (<c>groups == channels</c> is depthwise).</summary>
    public int Groups { get; }

    /// <summary>Convolution output size per spatial axis, validating that the dilated kernel fits the padded input.</summary>
    /// <param name="inputSpatial">Input size per spatial axis.</param>
    /// <param name="kernelSpatial">Kernel size per spatial axis.</param>
    public int[] ConvOutputSpatial(ReadOnlySpan<int> inputSpatial, ReadOnlySpan<int> kernelSpatial)
    {
        CheckAxes(inputSpatial, "inputShape");
        CheckAxes(kernelSpatial, "kernelShape");
        var output = new int[Dims];
        for (int a = 0; a < Dims; a++)
        {
            long padded = (long)inputSpatial[a] + PaddingBefore[a] + PaddingAfter[a];
            long span = (long)Dilation[a] * (kernelSpatial[a] - 1) + 1;
            if (span > padded)
            {
                throw new ArgumentException(
                    $"the dilated kernel ({span} = dilation {Dilation[a]} x (kernel {kernelSpatial[a]} - 1) + 1) is larger than " +
                    $"the padded input ({padded} = {inputSpatial[a]} + {PaddingBefore[a]} + {PaddingAfter[a]}) on spatial axis {a}; " +
                    $"input {Shapes.Format(inputSpatial)}, kernel {Shapes.Format(kernelSpatial)}",
                    "kernelShape");
            }
            output[a] = (int)((padded - span) / Stride[a] + 1);
        }
        return output;
    }

    /// <summary>Transposed-convolution output size per spatial axis, validating output padding and the crop.</summary>
    /// <param name="inputSpatial">Input size per spatial axis.</param>
    /// <param name="kernelSpatial">Kernel size per spatial axis.</param>
    public int[] TransposeOutputSpatial(ReadOnlySpan<int> inputSpatial, ReadOnlySpan<int> kernelSpatial)
    {
        CheckAxes(inputSpatial, "inputShape");
        CheckAxes(kernelSpatial, "kernelShape");
        var output = new int[Dims];
        for (int a = 0; a < Dims; a++)
        {
            if (OutputPadding[a] >= Math.Max(Stride[a], Dilation[a]))
            {
                throw new ArgumentException(
                    $"outputPadding must be smaller than max(stride, dilation) on every axis; got outputPadding {Shapes.Format(OutputPadding.AsSpan())} " +
                    $"with stride {Shapes.Format(Stride.AsSpan())} and dilation {Shapes.Format(Dilation.AsSpan())}",
                    nameof(OutputPadding));
            }
            long full = (long)(inputSpatial[a] - 1) * Stride[a] + (long)Dilation[a] * (kernelSpatial[a] - 1) + 1 + OutputPadding[a];
            long cropped = full - PaddingBefore[a] - PaddingAfter[a];
            if (cropped < 1)
            {
                throw new ArgumentException(
                    $"the transposed-convolution output on spatial axis {a} would be {cropped} " +
                    $"(= {full} before removing padding {PaddingBefore[a]} + {PaddingAfter[a]}); it must be >= 1",
                    nameof(PaddingBefore));
            }
            if (cropped > int.MaxValue)
            {
                throw new ArgumentException($"the transposed-convolution output on spatial axis {a} is too large ({cropped})", "inputShape");
            }
            output[a] = (int)cropped;
        }
        return output;
    }

    /// <summary>The convolution output shape <c>[N, K, out...]</c> for input <c>[N, C, in...]</c> and weight <c>[K, C/groups, k...]</c>.</summary>
    /// <param name="inputShape">The input shape <c>[N, C, spatial...]</c>.</param>
    /// <param name="weightShape">The weight shape (<c>[K, C/groups, k...]</c>, or <c>[C_in, C_out/groups, k...]</c> transposed).</param>
    public int[] ConvOutputShape(ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape) =>
        ConvProblem.ForConv(this, inputShape, weightShape).OutputShape;

    /// <summary>The transposed-convolution output shape <c>[N, K, out...]</c> for input <c>[N, C, in...]</c> and weight <c>[C, K/groups, k...]</c>.</summary>
    /// <param name="inputShape">The input shape <c>[N, C, spatial...]</c>.</param>
    /// <param name="weightShape">The weight shape (<c>[K, C/groups, k...]</c>, or <c>[C_in, C_out/groups, k...]</c> transposed).</param>
    public int[] TransposeOutputShape(ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape) =>
        ConvProblem.ForTranspose(this, inputShape, weightShape).TransposeOutputShape;

    /// <inheritdoc />
    public override string ToString()
    {
        string s = $"stride {Shapes.Format(Stride.AsSpan())}, padding {Shapes.Format(PaddingBefore.AsSpan())}/{Shapes.Format(PaddingAfter.AsSpan())}, " +
                   $"dilation {Shapes.Format(Dilation.AsSpan())}, groups {Groups}";
        return OutputPadding.Any(p => p != 0) ? s + $", outputPadding {Shapes.Format(OutputPadding.AsSpan())}" : s;
    }

    internal void CheckAxes(ReadOnlySpan<int> spatial, string parameter)
    {
        if (spatial.Length != Dims)
        {
            throw new ArgumentException(
                $"{parameter} has {spatial.Length} spatial axes but the geometry has {Dims}", parameter);
        }
        foreach (int v in spatial)
        {
            if (v < 1)
            {
                throw new ArgumentException($"{parameter} sizes must be >= 1; got spatial sizes {Shapes.Format(spatial)}", parameter);
            }
        }
    }

    private static ImmutableArray<int> Check(ReadOnlySpan<int> values, string name, int min, int dims)
    {
        if (values.Length != dims)
        {
            throw new ArgumentException($"{name} has {values.Length} entries but stride has {dims} (one per spatial axis)", name);
        }
        foreach (int v in values)
        {
            if (v < min)
            {
                throw new ArgumentException($"{name} must be >= {min} on every axis; got {Shapes.Format(values)}", name);
            }
        }
        return ImmutableArray.Create(values);
    }
}
