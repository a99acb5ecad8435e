namespace ConvGrad;

/// <summary>
/// One fully resolved convolution problem in the orientation of a forward convolution
/// (input X <c>[N, C, in]</c>, weight W <c>[K, C/G, k]</c>, output Y <c>[N, K, out]</c>), with every
/// spatial quantity widened to three axes (D, H, W; missing leading axes have size 1, stride 1, no padding).
/// This is what kernels consume: they need no padding-after (it only fixes <see cref="Out"/>) and
/// read inputs outside <c>[0, in)</c> as zero.
/// </summary>
/// <remarks>
/// A transposed convolution maps onto the same problem with the roles swapped: its output is X, its
/// input is Y, its weight <c>[C_in, C_out/G, k]</c> is W as is. Its forward pass is then this problem's
/// backward-data, its backward-data this problem's forward, and its weight gradient this problem's
/// weight gradient with X and Y exchanged. With output padding &gt;= stride, <see cref="Out"/> is smaller
/// than the formula of the forward convolution would give; kernels always use <see cref="Out"/>.
/// <para>
/// Public as what an <see cref="IConvBackend"/> receives: resolve one with <see cref="ForConv"/> or
/// <see cref="ForTranspose"/>. The widened spatial quantities are read through <see cref="InputSize"/>,
/// <see cref="OutputSize"/>, <see cref="KernelSize"/>, <see cref="Strides"/>, <see cref="Dilations"/> and
/// <see cref="Padding"/>, three entries each (D, H, W).
/// </para>
/// </remarks>
public sealed class ConvProblem
{
    /// <summary>The number of spatial axes of the original problem (1, 2 or 3).</summary>
    public readonly int Dims;

    /// <summary>Batch size N.</summary>
    public readonly int N;

    /// <summary>Input channels C of X.</summary>
    public readonly int C;

    /// <summary>Output channels K of Y.</summary>
    public readonly int K;

    /// <summary>Groups G.</summary>
    public readonly int Groups;

    /// <summary>Input channels per group, C/G.</summary>
    public readonly int Cg;

    /// <summary>Output channels per group, K/G.</summary>
    public readonly int Kg;

    // The engine indexes these widened arrays directly; outside the assembly they are read through the span properties.
    internal readonly int[] In = new int[3], Out = new int[3], Ker = new int[3];
    internal readonly int[] Stride = new int[3], Dil = new int[3], Pad = new int[3];

    /// <summary>The input spatial sizes widened to three axes (D, H, W).</summary>
    public ReadOnlySpan<int> InputSize => In;

    /// <summary>The output spatial sizes widened to three axes.</summary>
    public ReadOnlySpan<int> OutputSize => Out;

    /// <summary>The kernel spatial sizes widened to three axes.</summary>
    public ReadOnlySpan<int> KernelSize => Ker;

    /// <summary>The strides widened to three axes.</summary>
    public ReadOnlySpan<int> Strides => Stride;

    /// <summary>The dilations widened to three axes.</summary>
    public ReadOnlySpan<int> Dilations => Dil;

    /// <summary>The padding before each axis, widened to three axes (padding after only fixes <see cref="OutputSize"/>).</summary>
    public ReadOnlySpan<int> Padding => Pad;

    private ConvProblem(ConvGeometry g, int n, int c, int k, ReadOnlySpan<int> inSp, ReadOnlySpan<int> outSp, ReadOnlySpan<int> kerSp)
    {
        Dims = g.Dims;
        N = n; C = c; K = k; Groups = g.Groups; Cg = c / g.Groups; Kg = k / g.Groups;
        int lead = 3 - Dims;
        for (int a = 0; a < 3; a++)
        {
            bool real = a >= lead;
            int s = a - lead;
            In[a] = real ? inSp[s] : 1;
            Out[a] = real ? outSp[s] : 1;
            Ker[a] = real ? kerSp[s] : 1;
            Stride[a] = real ? g.Stride[s] : 1;
            Dil[a] = real ? g.Dilation[s] : 1;
            Pad[a] = real ? g.PaddingBefore[s] : 0;
        }
        InSpatial = In[0] * In[1] * In[2];
        OutSpatial = Out[0] * Out[1] * Out[2];
        KerSpatial = Ker[0] * Ker[1] * Ker[2];
        InputShape = Shape(N, C, inSp);
        OutputShape = Shape(N, K, outSp);
        WeightShape = Shape(K, Cg, kerSp);
        CheckLength(InputShape, "input");
        CheckLength(OutputShape, "output");
        CheckLength(WeightShape, "weight");
    }

    /// <summary>Product of the input spatial sizes.</summary>
    public int InSpatial { get; }
    /// <summary>Product of the output spatial sizes.</summary>
    public int OutSpatial { get; }
    /// <summary>Product of the kernel spatial sizes.</summary>
    public int KerSpatial { get; }
    /// <summary>X shape <c>[N, C, in...]</c> (original number of axes).</summary>
    public ReadOnlySpan<int> XShape => InputShape;
    /// <summary>Y shape <c>[N, K, out...]</c>.</summary>
    public ReadOnlySpan<int> YShape => OutputShape;
    /// <summary>W shape <c>[K, C/G, k...]</c>.</summary>
    public ReadOnlySpan<int> WShape => WeightShape;

    // The engine passes these arrays around; outside the assembly they are read through the span properties above.
    internal int[] InputShape { get; }
    internal int[] OutputShape { get; }
    internal int[] WeightShape { get; }
    /// <summary>For a transposed convolution: its output shape, which is this problem's X.</summary>
    internal int[] TransposeOutputShape => InputShape;
    /// <summary>For a transposed convolution: its input shape, which is this problem's Y.</summary>
    internal int[] TransposeInputShape => OutputShape;

    /// <summary>Multiply-adds of any one pass: N·K·out·(C/G)·k.</summary>
    public long MultiplyAdds => (long)N * K * OutSpatial * Cg * KerSpatial;

    /// <summary>
    /// Whether this is a depthwise convolution: several groups, each with one input channel (<c>C/G = 1</c>), so every
    /// input channel has its own <see cref="ChannelMultiplier"/> filters. The one definition the engine's planner and
    /// every backend use.
    /// </summary>
    public bool IsDepthwise => Groups > 1 && Cg == 1;

    /// <summary>Output channels per input channel of a depthwise convolution, <c>K/G</c> (1: one filter per channel).</summary>
    public int ChannelMultiplier => Kg;

    /// <summary>
    /// Whether this is a channel-wise convolution: depthwise (<see cref="IsDepthwise"/>) with one filter per channel
    /// (<see cref="ChannelMultiplier"/> 1), so output channel <c>k</c> is input channel <c>k</c> convolved with its own
    /// filter, <c>y[n,k,o] = Σ_t x[n,k,o·s+t·d−pad]·w[k,0,t]</c>. The one definition of the problems the direct depthwise
    /// kernels (blocked layout, GPU) compute channel by channel.
    /// </summary>
    public bool IsChannelwise => IsDepthwise && ChannelMultiplier == 1;

    /// <summary>
    /// The kernel the engine's planner chooses for <paramref name="pass"/> of this problem on a device backend: the direct
    /// depthwise kernels for one filter per channel, else the implicit GEMM (the one rule, so a device backend never
    /// chooses for itself).
    /// </summary>
    /// <param name="pass">The pass.</param>
    /// <returns>The kernel family to launch.</returns>
    public DeviceKernel PlanDeviceKernel(ConvPass pass) => Cpu.ConvPlanner.PlanGpu(this, pass);

    /// <summary>Whether every spatial axis has stride 1.</summary>
    public bool UnitStride => Stride[0] == 1 && Stride[1] == 1 && Stride[2] == 1;

    /// <summary>Resolves and validates a convolution of input <paramref name="inputShape"/> with weight <paramref name="weightShape"/>.</summary>
    /// <param name="g">The geometry (its output padding must be zero).</param>
    /// <param name="inputShape">X shape <c>[N, C, in...]</c>.</param>
    /// <param name="weightShape">W shape <c>[K, C/groups, k...]</c>.</param>
    /// <param name="inputName">The parameter name that errors about the input name.</param>
    /// <param name="weightName">The parameter name that errors about the weight name.</param>
    /// <returns>The resolved problem (the same instance for repeated calls with the same geometry and shapes).</returns>
    /// <exception cref="ArgumentException">The shapes do not fit the geometry.</exception>
    public static ConvProblem ForConv(ConvGeometry g, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, string inputName = "x", string weightName = "w")
    {
        // Repeated calls with the same geometry and shapes (a training loop) reuse the resolved problem: no allocation per call.
        if (g.LastConv is { } hit && hit.InputShape.AsSpan().SequenceEqual(inputShape) && hit.WeightShape.AsSpan().SequenceEqual(weightShape))
        {
            return hit;
        }
        if (g.OutputPadding.Any(p => p != 0))
        {
            throw new ArgumentException(
                $"outputPadding applies only to transposed convolution; got {Shapes.Format(g.OutputPadding.AsSpan())} for a convolution",
                "geometry");
        }
        CheckRank(g, inputShape, inputName, "[N, C, spatial...]");
        CheckRank(g, weightShape, weightName, "[K, C/groups, kernel...]");
        int n = inputShape[0], c = inputShape[1], k = weightShape[0];
        CheckGroups(g, c, k, inputName, weightName);
        if (weightShape[1] != c / g.Groups)
        {
            throw new ArgumentException(
                $"{weightName} shape {Shapes.Format(weightShape)} must have C/groups = {c}/{g.Groups} = {c / g.Groups} input channels on axis 1 " +
                $"(input {inputName} is {Shapes.Format(inputShape)})", weightName);
        }
        var inSp = inputShape[2..];
        var kerSp = weightShape[2..];
        int[] outSp = g.ConvOutputSpatial(inSp, kerSp);
        var p = new ConvProblem(g, n, c, k, inSp, outSp, kerSp);
        g.LastConv = p;
        return p;
    }

    /// <summary>
    /// Resolves and validates a transposed convolution of input <paramref name="inputShape"/> <c>[N, C_in, in...]</c>
    /// with weight <paramref name="weightShape"/> <c>[C_in, C_out/G, k...]</c>, as the equivalent convolution problem.
    /// </summary>
    /// <param name="g">The geometry.</param>
    /// <param name="inputShape">The transposed convolution's input shape <c>[N, C_in, in...]</c>.</param>
    /// <param name="weightShape">Its weight shape <c>[C_in, C_out/groups, k...]</c>.</param>
    /// <param name="inputName">The parameter name that errors about the input name.</param>
    /// <param name="weightName">The parameter name that errors about the weight name.</param>
    /// <returns>The equivalent convolution problem (its X is the transposed output).</returns>
    /// <exception cref="ArgumentException">The shapes do not fit the geometry.</exception>
    public static ConvProblem ForTranspose(ConvGeometry g, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, string inputName = "x", string weightName = "w")
    {
        if (g.LastTranspose is { } hit && hit.TransposeInputShape.AsSpan().SequenceEqual(inputShape) && hit.WeightShape.AsSpan().SequenceEqual(weightShape))
        {
            return hit;
        }
        CheckRank(g, inputShape, inputName, "[N, C_in, spatial...]");
        CheckRank(g, weightShape, weightName, "[C_in, C_out/groups, kernel...]");
        int n = inputShape[0], cIn = inputShape[1];
        if (weightShape[0] != cIn)
        {
            throw new ArgumentException(
                $"{weightName} shape {Shapes.Format(weightShape)} must have C_in = {cIn} channels on axis 0 (input {inputName} is {Shapes.Format(inputShape)})",
                weightName);
        }
        long cOut = (long)weightShape[1] * g.Groups;
        if (cOut > int.MaxValue)
        {
            throw new ArgumentException($"{weightName} shape {Shapes.Format(weightShape)} with groups {g.Groups} gives too many output channels", weightName);
        }
        CheckGroups(g, (int)cOut, cIn, weightName, inputName);
        var inSp = inputShape[2..];
        var kerSp = weightShape[2..];
        int[] outSp = g.TransposeOutputSpatial(inSp, kerSp);
        // As a convolution: X is the transposed output (C_out channels), Y is the transposed input (C_in channels).
        var p = new ConvProblem(g, n, (int)cOut, cIn, outSp, inSp, kerSp);
        g.LastTranspose = p;
        return p;
    }

    /// <summary>Checks that <paramref name="shape"/> equals <paramref name="expected"/>, naming the tensor.</summary>
    internal static void CheckShape(ReadOnlySpan<int> shape, ReadOnlySpan<int> expected, string name, string what)
    {
        if (!shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"{name} has shape {Shapes.Format(shape)} but {what} needs {Shapes.Format(expected)}", name);
        }
    }

    private static void CheckRank(ConvGeometry g, ReadOnlySpan<int> shape, string name, string layout)
    {
        if (shape.Length != g.Dims + 2)
        {
            throw new ArgumentException(
                $"{name} must have shape {layout} with {g.Dims} spatial axes ({g.Dims + 2} in all); got {Shapes.Format(shape)}", name);
        }
        foreach (int d in shape)
        {
            if (d < 1)
            {
                throw new ArgumentException($"{name} sizes must all be >= 1; got {Shapes.Format(shape)}", name);
            }
        }
    }

    private static void CheckGroups(ConvGeometry g, int c, int k, string cName, string kName)
    {
        if (c % g.Groups != 0)
        {
            throw new ArgumentException($"the {c} channels of {cName} are not divisible by groups = {g.Groups}", cName);
        }
        if (k % g.Groups != 0)
        {
            throw new ArgumentException($"the {k} output channels of {kName} are not divisible by groups = {g.Groups}", kName);
        }
    }

    private static int[] Shape(int a, int b, ReadOnlySpan<int> spatial)
    {
        var s = new int[spatial.Length + 2];
        s[0] = a;
        s[1] = b;
        spatial.CopyTo(s.AsSpan(2));
        return s;
    }

    private static void CheckLength(int[] shape, string what)
    {
        if (Shapes.Product(shape) > Tensor<float>.MaxLength)
        {
            throw new ArgumentException(
                $"the {what} tensor {Shapes.Format(shape)} would have {Shapes.Product(shape)} elements, more than a tensor can hold ({Tensor<float>.MaxLength})",
                what == "weight" ? "w" : "x");
        }
    }
}
