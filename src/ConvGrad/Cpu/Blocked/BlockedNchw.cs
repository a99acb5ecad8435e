using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The blocked direct kernels behind the public NCHW API, as PyTorch runs its blocked kernels: each call converts its
/// NCHW operands into a per-thread blocked workspace, reblocks the weights the pass needs, runs the
/// <see cref="BlockedConvPlan"/> (this thread's executor from <see cref="PlanCache"/>) and converts the result back; the
/// conversions count in the call's time. A repeated call allocates nothing. Which calls come here is the planner's choice
/// (<see cref="ConvPlanner"/>: <see cref="ConvKernel.DirectBlocked"/> and <see cref="ConvKernel.FirstLayer"/> on NCHW).
/// </summary>
internal static unsafe class BlockedNchw
{
    /// <summary>The most workspace (bytes) a blocked NCHW call may use; larger problems stay on the GEMM path.</summary>
    public const long MaxWorkspaceBytes = 16L << 20;

    [ThreadStatic] private static float[]? t_activations;
    [ThreadStatic] private static BlockedLayout.Reorder? t_reorder;

    /// <summary>
    /// The workspace (bytes) of one blocked NCHW call of <paramref name="pass"/>: the blocked input and output
    /// activations, the reblocked weights and padded bias the pass needs, and for backward-weight the accumulators of up
    /// to <paramref name="threads"/> threads; for the first-layer kernel (<paramref name="firstLayer"/>) the blocked y or dY
    /// (for a dY over <see cref="RowGatherBytes"/>, per thread one row of it) and that kernel's own scratch. Computed from
    /// the shape alone (no allocation).
    /// </summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass, int blockSize, int threads, bool firstLayer)
    {
        if (firstLayer)
        {
            // The input stays NCHW; the blocked y (or dY, or per thread one gathered row of a large dY) and the
            // first-layer kernel's own scratch.
            var g = PlanCache.For(p, blockSize).Geometry;
            long kbFloats = (long)g.Kb * blockSize;
            long blockedFloats = GathersRows(p, pass, blockSize) ? Math.Max(1, threads) * kbFloats * g.Out[2] : p.N * kbFloats * p.OutSpatial;
            return blockedFloats * sizeof(float) + FlatInput.WorkspaceBytes(g, pass, threads);
        }
        long b = blockSize, cb = (p.C + b - 1) / b, kb = (p.K + b - 1) / b;
        long cbG = (p.Cg + b - 1) / b, kbG = (p.Kg + b - 1) / b, taps = p.KerSpatial;
        long floats = ActivationFloats(p, blockSize);
        bool depthwise = p.IsChannelwise;
        if (pass != ConvPass.BackwardWeight)
        {
            floats += depthwise ? cb * taps * b : p.Groups * kbG * cbG * taps * b * b;
        }
        if (pass == ConvPass.Forward)
        {
            floats += kb * b;
        }
        if (pass == ConvPass.BackwardWeight && !depthwise)
        {
            long ow = blockSize == 16 ? 4 : 3; // BlockedGeometry.WeightOutBlocks
            long task = ow * taps * b * b, tasks = p.Groups * ((kbG + ow - 1) / ow) * cbG;
            floats += Math.Max(1, threads) * Math.Clamp(BlockedConvPlan.AccumulatorBudget / task, 1, tasks) * task;

        }
        if (pass != ConvPass.Forward && ConvPlanner.UsesDensePanel(p))
        {
            floats += (long)p.N * cb * b * p.OutSpatial; // the strided 1×1 passes' dense panel
        }
        return floats * sizeof(float);
    }

    /// <summary>
    /// A first layer's dY larger than this (bytes, blocked) is not converted whole for its dW: the kernel gathers it into
    /// blocks one output row at a time (<see cref="FlatInputKernels{TI, TV}.BackwardWeight"/>), instead of a copy that
    /// goes through memory twice and would exceed <see cref="MaxWorkspaceBytes"/> (the ResNet stem's, 25.7 MB, sent its
    /// NCHW dW to the GEMM at twice the time). Smaller ones convert whole: the planes' long 8×8 transposes cost less
    /// than a row's (mnist-c1: 0.6 ms whole, 0.8-0.9 ms by rows, 1 thread).
    /// </summary>
    public const long RowGatherBytes = 8L << 20;

    /// <summary>Whether the first-layer kernel reads <paramref name="pass"/>'s dY as NCHW rows gathered into blocks (dW with a blocked dY over <see cref="RowGatherBytes"/>).</summary>
    public static bool GathersRows(ConvProblem p, ConvPass pass, int blockSize) =>
        pass == ConvPass.BackwardWeight && (long)p.N * ((p.K + blockSize - 1) / blockSize) * blockSize * p.OutSpatial * sizeof(float) > RowGatherBytes;

    /// <summary>
    /// The workspace of the blocked kernels themselves on tensors already in the layout: <see cref="WorkspaceBytes"/>
    /// without the blocked activation copies (reblocked weights, padded bias, dW accumulators).
    /// </summary>
    public static long KernelWorkspaceBytes(ConvProblem p, ConvPass pass, int blockSize, int threads, bool firstLayer) =>
        firstLayer ? FlatInput.WorkspaceBytes(PlanCache.For(p, blockSize).Geometry, pass, threads) : WorkspaceBytes(p, pass, blockSize, threads, false) - ActivationFloats(p, blockSize) * sizeof(float) + PaddedCopyBytes(p, pass, blockSize);

    /// <summary>
    /// The plan's copy of x (forward) or dY (backward-data) with its width padding written in, when the planner makes one
    /// (<see cref="ConvPlanner.PadsColumns"/>; at most <see cref="ConvPlanner.PaddedColumnsMaxBytes"/>, so not counted
    /// against <see cref="MaxWorkspaceBytes"/>: it does not change which NCHW calls run blocked).
    /// </summary>
    public static long PaddedCopyBytes(ConvProblem p, ConvPass pass, int blockSize)
    {
        var g = new BlockedGeometry(p, blockSize);
        return pass != ConvPass.BackwardWeight && ConvPlanner.PadsColumns(p, g, pass) ? PaddedColumns.Make(g, pass).Floats * sizeof(float) : 0;
    }

    private static long ActivationFloats(ConvProblem p, int b) =>
        (long)p.N * ((p.C + b - 1) / b) * b * p.InSpatial + (long)p.N * ((p.K + b - 1) / b) * b * p.OutSpatial;

    /// <summary>
    /// Runs <paramref name="pass"/> on NCHW memory on <paramref name="plan"/>'s kernels (the first-layer kernel when
    /// <paramref name="firstLayer"/>): forward <c>(a, b, bias, output) = (x, w, b, y)</c>, backward-data
    /// <c>(dy, w, -, dx)</c>, backward-weight <c>(x, dy, -, dw)</c>, as <see cref="ConvPlan.Run"/>.
    /// </summary>
    public static void Run(BlockedConvPlan plan, ConvPass pass, bool firstLayer, int threads, float* a, float* b, ReadOnlySpan<float> bias, float* output)
    {
        var p = plan.Problem;
        var g = plan.Geometry;
        int blockSize = plan.BlockSize;
        int w = (int)Shapes.Product(p.WeightShape);
        if (firstLayer)
        {
            // A first layer: the kernels read the NCHW input as it is; only y (or dY) is blocked, a large dY a row at a time.
            if (GathersRows(p, pass, blockSize))
            {
                plan.BackwardWeightFromNchw(a, b, output, threads, dyNchw: true);
                return;
            }
            float* blockedY = Activations((long)p.N * g.Kb * blockSize * p.OutSpatial);
            if (pass == ConvPass.Forward)
            {
                plan.ReblockFlat(new ReadOnlySpan<float>(b, w), bias);
                plan.ForwardFromNchw(a, blockedY, threads);
                Convert(blockSize, output, blockedY, p.N, p.K, p.OutSpatial, false, threads);
            }
            else
            {
                Convert(blockSize, b, blockedY, p.N, p.K, p.OutSpatial, true, threads);
                plan.BackwardWeightFromNchw(a, blockedY, output, threads);
            }
            return;
        }
        long inFloats = (long)p.N * g.Cb * blockSize * p.InSpatial;
        float* blockedIn = Activations(ActivationFloats(p, blockSize));
        float* blockedOut = blockedIn + inFloats;
        switch (pass)
        {
            case ConvPass.Forward:
                plan.Reblock(pass, new ReadOnlySpan<float>(b, w), bias);
                Convert(blockSize, a, blockedIn, p.N, p.C, p.InSpatial, true, threads);
                plan.Forward(blockedIn, blockedOut, threads);
                Convert(blockSize, output, blockedOut, p.N, p.K, p.OutSpatial, false, threads);
                break;
            case ConvPass.BackwardData:
                plan.Reblock(pass, new ReadOnlySpan<float>(b, w), default);
                Convert(blockSize, a, blockedOut, p.N, p.K, p.OutSpatial, true, threads);
                plan.BackwardData(blockedOut, blockedIn, threads);
                Convert(blockSize, output, blockedIn, p.N, p.C, p.InSpatial, false, threads);
                break;
            default:
                Convert(blockSize, a, blockedIn, p.N, p.C, p.InSpatial, true, threads);
                Convert(blockSize, b, blockedOut, p.N, p.K, p.OutSpatial, true, threads);
                plan.BackwardWeight(blockedIn, blockedOut, output, threads);
                break;
        }
    }

    private static void Convert(int blockSize, float* nchw, float* blocked, int n, int c, int spatial, bool toBlocked, int threads) =>
        BlockedLayout.Run(t_reorder ??= new BlockedLayout.Reorder(), nchw, blocked, n, c, blockSize, spatial, toBlocked, Math.Max(1, threads));

    /// <summary>This thread's blocked activation workspace of at least <paramref name="count"/> floats, 64-byte aligned.</summary>
    private static float* Activations(long count)
    {
        if (t_activations is null || t_activations.Length < count + 16)
        {
            t_activations = GC.AllocateUninitializedArray<float>((int)count + 16, pinned: true);
        }
        nint address = (nint)Unsafe.AsPointer(ref t_activations[0]);
        return (float*)((address + 63) & ~(nint)63);
    }
}
