namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Direct kernels for depthwise convolution (one input channel per group, <c>C/G = 1</c>, channel multiplier
/// <c>M = K/C &gt;= 1</c>), 1-3 spatial axes, any stride, dilation, asymmetric padding and batch. A GEMM would have
/// M = 1 rows here, so these kernels work plane by plane instead: vectorised along the output width with
/// Vector256 + FMA (or a scalar fallback), with broadcast weights.
/// </summary>
/// <remarks>
/// Spans must have exactly the problem's lengths (<see cref="ConvProblem.InputShape"/> etc.). Forward and backward-data
/// split (n, c) planes among threads, backward-weight splits output channels; every output element is produced by one
/// thread in an order fixed by the shape, so all three passes give bitwise identical results for any thread count
/// (per code path: the FMA and scalar paths round differently).
/// </remarks>
internal static unsafe class DepthwiseKernels
{
    /// <summary>
    /// Whether these kernels can compute <paramref name="p"/>: exactly when every group has one input channel (the depthwise
    /// problems, <see cref="ConvProblem.IsDepthwise"/>, and a single-channel convolution). Which problems take them is the
    /// planner's choice (<see cref="ConvPlanner"/>).
    /// </summary>
    public static bool Applies(ConvProblem p) => p.Cg == 1;

    /// <summary>Whether the Vector256 + FMA path runs on this machine (otherwise the scalar path does).</summary>
    public static bool VectorPath => Fma256RowMath.IsSupported;

    /// <summary>y = x ⋆ w (+ b when <paramref name="b"/> is not empty); overwrites y.</summary>
    public static void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads) =>
        Forward(p, x, w, b, y, threads, VectorPath);

    /// <summary>The tier standing for a path: AVX2 for the vector one, portable for the scalar one.</summary>
    private static IsaTier PathTier(bool vector) => vector ? IsaTier.Avx2 : IsaTier.Portable;

    /// <summary>dx = ∂L/∂x; overwrites dx, with exact zeros where no output reads x.</summary>
    public static void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads) =>
        BackwardData(p, dy, w, dx, threads, VectorPath);

    /// <summary>dw = ∂L/∂w; overwrites dw.</summary>
    public static void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads) =>
        BackwardWeight(p, x, dy, dw, threads, VectorPath);

    /// <summary><see cref="Forward(ConvProblem, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> on a chosen path (tests compare the two).</summary>
    internal static void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads, bool vector) =>
        Forward(p, x, w, b, y, threads, ConvPlanner.DepthwiseKernel(p, ConvPass.Forward, PathTier(vector)), vector, PathTier(vector));

    /// <summary>Forward on the kernel <paramref name="kernel"/> the planner chose (<see cref="ConvKernel.DepthwiseBlocked8"/> needs the vector path).</summary>
    internal static void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads, ConvKernel kernel, bool vector, IsaTier tier)
    {
        CheckApplies(p);
        CheckLength(x, p.InputShape, nameof(x));
        CheckLength(w, p.WeightShape, nameof(w));
        CheckLength(y, p.OutputShape, nameof(y));
        if (!b.IsEmpty && b.Length != p.K)
        {
            throw new ArgumentException($"b has {b.Length} elements but the {p.K} output channels need {p.K} (or none)", nameof(b));
        }
        vector = CheckVector(vector);
        fixed (float* px = x, pw = w, pb = b, py = y)
        {
            KernelRecord.Ran(KernelName(kernel, vector), tier);
            if (kernel == ConvKernel.DepthwiseBlocked8)
            {
                var blocked = new DepthwiseForwardChannelBlocked(p, px, pw, b.IsEmpty ? null : pb, py);
                WorkerPool.Run(blocked, DepthwiseBlocking.Parts(p, ChannelBlockUnits(p), threads));
                return;
            }
            IPartitionedWork work = vector
                ? new DepthwiseForward<Fma256RowMath>(p, px, pw, b.IsEmpty ? null : pb, py)
                : new DepthwiseForward<ScalarRowMath>(p, px, pw, b.IsEmpty ? null : pb, py);
            WorkerPool.Run(work, DepthwiseBlocking.Parts(p, p.N * p.C, threads));
        }
    }

    /// <summary><see cref="BackwardData(ConvProblem, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> on a chosen path.</summary>
    internal static void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads, bool vector) =>
        BackwardData(p, dy, w, dx, threads, ConvPlanner.DepthwiseKernel(p, ConvPass.BackwardData, PathTier(vector)), vector, PathTier(vector));

    /// <summary>Backward-data on the kernel <paramref name="kernel"/> the planner chose.</summary>
    internal static void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads, ConvKernel kernel, bool vector, IsaTier tier)
    {
        CheckApplies(p);
        CheckLength(dy, p.OutputShape, nameof(dy));
        CheckLength(w, p.WeightShape, nameof(w));
        CheckLength(dx, p.InputShape, nameof(dx));
        vector = CheckVector(vector);
        fixed (float* pdy = dy, pw = w, pdx = dx)
        {
            KernelRecord.Ran(KernelName(kernel, vector), tier);
            if (kernel == ConvKernel.DepthwiseBlocked8)
            {
                var blocked = new DepthwiseBackwardDataChannelBlocked(p, pdy, pw, pdx);
                WorkerPool.Run(blocked, DepthwiseBlocking.Parts(p, ChannelBlockUnits(p), threads));
                return;
            }
            IPartitionedWork work = vector
                ? new DepthwiseBackwardData<Fma256RowMath>(p, pdy, pw, pdx)
                : new DepthwiseBackwardData<ScalarRowMath>(p, pdy, pw, pdx);
            WorkerPool.Run(work, DepthwiseBlocking.Parts(p, p.N * p.C, threads));
        }
    }

    /// <summary><see cref="BackwardWeight(ConvProblem, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> on a chosen path.</summary>
    internal static void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads, bool vector) =>
        BackwardWeight(p, x, dy, dw, threads, ConvPlanner.DepthwiseKernel(p, ConvPass.BackwardWeight, PathTier(vector)), vector, PathTier(vector));

    /// <summary>Backward-weight on the kernel <paramref name="kernel"/> the planner chose.</summary>
    internal static void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads, ConvKernel kernel, bool vector, IsaTier tier)
    {
        CheckApplies(p);
        CheckLength(x, p.InputShape, nameof(x));
        CheckLength(dy, p.OutputShape, nameof(dy));
        CheckLength(dw, p.WeightShape, nameof(dw));
        vector = CheckVector(vector);
        fixed (float* px = x, pdy = dy, pdw = dw)
        {
            KernelRecord.Ran(KernelName(kernel, vector), tier);
            if (kernel == ConvKernel.DepthwiseBlocked8)
            {
                var blocked = new DepthwiseBackwardWeightChannelBlocked(p, px, pdy, pdw);
                WorkerPool.Run(blocked, DepthwiseBlocking.Parts(p, ChannelBlocks.Count(p.C), threads));
                return;
            }
            IPartitionedWork work = vector
                ? new DepthwiseBackwardWeight<Fma256RowMath>(p, px, pdy, pdw)
                : new DepthwiseBackwardWeight<ScalarRowMath>(p, px, pdy, pdw);
            WorkerPool.Run(work, DepthwiseBlocking.Parts(p, p.K, threads));
        }
    }

    /// <summary>The scratch memory (bytes) one call uses with <paramref name="threads"/> threads (each part rewrites its planes into its own buffer).</summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads) =>
        WorkspaceBytes(p, pass, ConvPlanner.DepthwiseKernel(p, pass, PathTier(VectorPath)), threads, VectorPath);

    /// <summary><see cref="WorkspaceBytes(ConvProblem, ConvPass, int)"/> of the kernel <paramref name="kernel"/>.</summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass, ConvKernel kernel, int threads, bool vector)
    {
        if (kernel == ConvKernel.DepthwiseBlocked8)
        {
            return pass switch
            {
                ConvPass.Forward => DepthwiseForwardChannelBlocked.WorkspaceFloats(p) * sizeof(float) * DepthwiseBlocking.Parts(p, ChannelBlockUnits(p), Math.Max(threads, 1)),
                ConvPass.BackwardData => DepthwiseBackwardDataChannelBlocked.WorkspaceFloats(p) * sizeof(float) * DepthwiseBlocking.Parts(p, ChannelBlockUnits(p), Math.Max(threads, 1)),
                _ => DepthwiseBackwardWeightChannelBlocked.WorkspaceFloats(p) * sizeof(float) * DepthwiseBlocking.Parts(p, ChannelBlocks.Count(p.C), Math.Max(threads, 1)),
            };
        }
        long perPart = pass switch
        {
            ConvPass.Forward => DepthwiseForward<Fma256RowMath>.WorkspaceFloats(p),
            ConvPass.BackwardData => DepthwiseBackwardData<Fma256RowMath>.WorkspaceFloats(p),
            _ => DepthwiseBackwardWeight<Fma256RowMath>.WorkspaceFloats(p),
        };
        int parts = DepthwiseBlocking.Parts(p, pass == ConvPass.BackwardWeight ? p.K : p.N * p.C, Math.Max(threads, 1));
        return perPart * sizeof(float) * parts;
    }

    /// <summary>A plain-words paragraph on the method, for <c>convgrad explain</c>.</summary>
    public static string Describe(ConvProblem p, ConvPass pass) =>
        Describe(p, pass, ConvPlanner.DepthwiseKernel(p, pass, PathTier(VectorPath)), VectorPath);

    /// <summary>The kernel's short name for bench rows: <c>depthwise-blocked8</c>, <c>depthwise-rows8</c> or <c>depthwise-rows-scalar</c>.</summary>
    public static string KernelName(ConvKernel kernel, bool vector) =>
        kernel == ConvKernel.DepthwiseBlocked8 ? "depthwise-blocked8" : vector ? "depthwise-rows8" : "depthwise-rows-scalar";

    /// <summary><see cref="Describe(ConvProblem, ConvPass)"/> of the kernel <paramref name="kernel"/> on a chosen path.</summary>
    public static string Describe(ConvProblem p, ConvPass pass, ConvKernel kernel, bool vector)
    {
        bool blocked8 = kernel == ConvKernel.DepthwiseBlocked8;
        string path = vector ? "8-wide Vector256 FMA" : "scalar (this CPU lacks AVX2/FMA)";
        string strided = p.Stride[2] > 1
            ? $" Because the width stride is {p.Stride[2]}, each input row is first de-interleaved into {p.Stride[2]} phase rows (every {p.Stride[2]}th element), so every kernel column reads a contiguous run and no vector lane is wasted."
            : "";
        string mult = p.Kg > 1 ? $" Each input channel feeds {p.Kg} output channels (channel multiplier {p.Kg})." : "";
        return pass switch
        {
            ConvPass.Forward when blocked8 =>
                "Depthwise convolution (one input channel per group) runs as a direct kernel rather than a GEMM, whose matrices would have a single row here. " +
                "Eight channels at a time, the input planes are transposed (8x8 AVX transposes) into a zero-padded block of pixels whose eight lanes are the eight channels, " +
                "so every kernel tap of every output pixel is one whole 8-wide FMA with a vector of the eight channels' weights: no partial vectors at row ends and no padding tests. " +
                "Eight output pixels share each weight load; each output row is transposed back into the channels' rows. (Image, channel block) units are split evenly among threads.",
            ConvPass.Forward =>
                "Depthwise convolution (one input channel per group) runs as a direct kernel rather than a GEMM, whose matrices would have a single row here. " +
                "For each (image, channel) plane the input is copied once into zero-padded rows, so padding needs no tests in the inner loop; " +
                $"each output row is then the sum of the in-bounds kernel rows' input rows, shifted per kernel column and scaled by a broadcast weight, computed {path} along the output width, 32 outputs at a time." +
                strided + mult + " Planes are split evenly among threads.",
            ConvPass.BackwardData when blocked8 =>
                "The depthwise input gradient is computed by stride phases, never by inserting zeros into dY, eight channels at a time with one channel per vector lane. " +
                "The eight dY planes are transposed into a block of pixels padded with zeros wide enough for every tap, so out-of-range dY reads are zeros without tests. " +
                $"Each dX row is assembled from its width phases: the columns i = ρ + t·{p.Stride[2]} of phase ρ receive only the kernel taps with (ρ + p − r·d) divisible by the stride, " +
                "each reading dY at a fixed offset, as a stride-1 correlation computed eight pixels per weight load; the row is then transposed back into the channels' rows. " +
                "Positions that no tap reaches come out as exact zeros; every element is written once, and (image, channel block) units are split evenly among threads.",
            ConvPass.BackwardData =>
                "The depthwise input gradient is computed by stride phases, never by inserting zeros into dY. " +
                $"Along the width, the input columns i = ρ + t·{p.Stride[2]} of one phase ρ receive only the kernel columns r with (ρ + p − r·d) divisible by the stride, each reading dY at a fixed offset; " +
                "along depth and height each input row gathers only the kernel rows whose division by the stride is exact and lands inside dY. " +
                $"Each phase is therefore a stride-1 correlation of a zero-padded dY row with its sub-kernel, computed {path}, then written back to its columns; " +
                "positions that no tap reaches come out as exact zeros." + mult + " Planes are split evenly among threads, and every element is written once.",
            ConvPass.BackwardWeight when blocked8 =>
                "The depthwise weight gradient is computed eight channels at a time, one channel per vector lane: for each image the eight input planes are transposed into a zero-padded block of pixels and the eight dY planes likewise, " +
                "then for every kernel tap the products dY(o) · X(o·s + tap) are summed over the output pixels with 8-wide FMAs, each lane being one channel's sum, so no horizontal sum is needed. " +
                "Three taps of a kernel row and three pixel phases give nine independent partial sums, added in a fixed order at the end. Threads split the channel blocks, never a sum, so the result is bitwise identical for any thread count.",
            _ =>
                "The depthwise weight gradient is computed per output channel: for every kernel tap, the dot product of each dY row with the correspondingly shifted, zero-padded input row " +
                $"is added ({path}) into that tap's own accumulator, image by image and row by row, and the accumulator is summed in a fixed order at the end." +
                (p.Stride[2] > 1 ? $" Input rows are de-interleaved into {p.Stride[2]} phase rows so that strided taps read contiguous runs." : "") +
                " Threads split the output channels, never a sum, so the result is bitwise identical for any thread count.",
        };
    }

    /// <summary>Units of the channel-blocked forward: (image, block of 8 channels).</summary>
    private static int ChannelBlockUnits(ConvProblem p) => p.N * ChannelBlocks.Count(p.C);

    private static void CheckApplies(ConvProblem p)
    {
        if (!Applies(p))
        {
            throw new ArgumentException($"the depthwise kernels need one input channel per group; this problem has C/groups = {p.C}/{p.Groups} = {p.Cg}", nameof(p));
        }
    }

    private static bool CheckVector(bool vector)
    {
        if (vector && !Fma256RowMath.IsSupported)
        {
            throw new PlatformNotSupportedException("the Vector256 + FMA depthwise path needs AVX2 and FMA");
        }
        return vector;
    }

    private static void CheckLength(ReadOnlySpan<float> s, int[] shape, string name)
    {
        if (s.Length != Shapes.Product(shape))
        {
            throw new ArgumentException($"{name} has {s.Length} elements but shape {Shapes.Format(shape)} needs {Shapes.Product(shape)}", name);
        }
    }
}
