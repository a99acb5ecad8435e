using ConvGrad.Cpu.Blocked;
using ConvGrad.Cpu.Depthwise;
using ConvGrad.Cpu.Gemm;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu;

/// <summary>
/// The one place the fast CPU engine chooses a leaf kernel (as oneDNN's primitive descriptor or XNNPACK's operator
/// creation): from the problem, the pass, the ISA tier, the activations' layout and the thread count it returns a
/// <see cref="ConvPlan"/> that names the kernel, sizes its workspace, describes it and runs it. The public NCHW API,
/// the blocked API, the layers, <c>bench</c>, <c>explain</c> and the GPU backend (<see cref="PlanGpu"/>) all ask here;
/// nothing else decides which kernel runs.
/// Every rule is a function of (problem, pass, tier, layout, threads) only, so a plan can be made again and again
/// (it is a small value; the blocked kernels' reblocked weights live in <see cref="PlanCache"/>).
/// </summary>
internal static class ConvPlanner
{
    /// <summary>The plan of <paramref name="pass"/> of <paramref name="p"/> on NCHW tensors (the public API).</summary>
    public static ConvPlan Plan(ConvProblem p, ConvPass pass, IsaTier tier, int threads) => Plan(p, pass, tier, PlanLayout.Nchw, threads);

    /// <summary>
    /// The plan of <paramref name="pass"/> of <paramref name="p"/> on <paramref name="tier"/> with up to
    /// <paramref name="threads"/> threads, for activations in <paramref name="layout"/>.
    /// <list type="bullet">
    /// <item>NCHW: depthwise problems (<see cref="ConvProblem.IsDepthwise"/>) take the direct depthwise kernels (as a GEMM
    /// they would have a one-row reduction per tap; on the blocked layout the conversions cost more than the convolution):
    /// eight channels transposed into vectors where that kernel covers the shape on AVX2 and up, else along the rows;
    /// problems the direct blocked kernels pay off for (<see cref="UsesDirectBlocked"/>) take them, the conversions inside
    /// the call, a first layer's dW on the first-layer kernel (<see cref="FirstLayerBackwardWeight"/>); backward-data of
    /// groups with at most three input channels takes the direct few-channel kernel on AVX2 and up (a GEMM would spend its
    /// time packing dY); everything else the tier's blocked GEMM.</item>
    /// <item>Blocked: the direct blocked kernels where they cover the grouping on a vector tier
    /// (<see cref="RunsBlocked(ConvProblem, int)"/>), else through NCHW (the NCHW plan between two conversions).</item>
    /// <item>NCHW to blocked (a first layer's forward and dW): the first-layer kernels where they apply
    /// (<see cref="FlatInput.Applies"/>, a vector tier, not dX), else as on the blocked layout.</item>
    /// </list>
    /// </summary>
    public static ConvPlan Plan(ConvProblem p, ConvPass pass, IsaTier tier, PlanLayout layout, int threads)
    {
        ConvKernel kernel = layout switch
        {
            PlanLayout.Nchw => ChooseNchw(p, pass, tier, threads),
            PlanLayout.NchwToBlocked when ReadsFirstLayerInput(p, pass, tier) => ConvKernel.FirstLayer,
            _ => RunsBlocked(p, BlockSize(tier)) ? ConvKernel.DirectBlocked : ConvKernel.ThroughNchw,
        };
        return new ConvPlan(p, pass, tier, layout, threads, kernel, TileSplit.Parts(p, threads));
    }

    /// <summary>
    /// The kernel of <paramref name="pass"/> of <paramref name="p"/> on the GPU backend (ConvGrad.Gpu asks here through
    /// <see cref="ConvProblem.PlanDeviceKernel"/>, as the CPU paths do): channel-wise problems (<see cref="ConvProblem.IsChannelwise"/>) take the direct depthwise kernels (as a GEMM their
    /// reduction would be one channel per tap), everything else the pass's implicit GEMM. A function of the problem only;
    /// the GEMM's launch sizes (tiles, split-K slices) are the backend's.
    /// </summary>
    public static DeviceKernel PlanGpu(ConvProblem p, ConvPass pass) =>
        p.IsChannelwise ? DeviceKernel.Depthwise : DeviceKernel.ImplicitGemm;

    private static ConvKernel ChooseNchw(ConvProblem p, ConvPass pass, IsaTier tier, int threads) =>
        p.IsDepthwise ? DepthwiseKernel(p, pass, tier)
        : UsesDirectBlocked(p, pass, tier, threads) ? (FirstLayerBackwardWeight(p, pass) ? ConvKernel.FirstLayer : ConvKernel.DirectBlocked)
        : pass == ConvPass.BackwardData && tier >= IsaTier.Avx2 && BackwardDataFewChannels.Applies(p) ? ConvKernel.FewChannelsBackwardData
        : ConvKernel.Gemm;

    /// <summary>
    /// The depthwise kernel of a pass: the eight-channel transposed kernel where it covers the shape (AVX2 + FMA, one filter
    /// per channel, at least eight channels, 1-2 spatial axes, a bounded padded plane; dX only when strided), else the
    /// row kernel (vectorised on AVX2 and up, scalar on the portable tier).
    /// </summary>
    public static ConvKernel DepthwiseKernel(ConvProblem p, ConvPass pass, IsaTier tier) =>
        DepthwiseVector(tier) && pass switch
        {
            ConvPass.Forward => DepthwiseForwardChannelBlocked.Applies(p),
            ConvPass.BackwardData => DepthwiseBackwardDataChannelBlocked.Applies(p),
            _ => DepthwiseBackwardWeightChannelBlocked.Applies(p),
        } ? ConvKernel.DepthwiseBlocked8 : ConvKernel.DepthwiseRows;

    /// <summary>
    /// Whether a blocked problem is 2-D: one input and output plane and no depth tap, with no depth padding (a padded
    /// depth of one plane would read only padding).
    /// </summary>
    private static bool IsPlanar(BlockedGeometry g) => g.Ker[0] == 1 && g.In[0] == 1 && g.Out[0] == 1 && g.P[0] == 0;

    /// <summary>
    /// Whether the blocked depthwise backward-weight keeps every tap's sum in a register over whole planes
    /// (<see cref="DepthwiseWeightPlanesTile"/>) rather than summing per output-row pair through memory: a 2-D problem
    /// (no depth axis) whose kernel is at most 5 × 5 and whose taps fit in the tier's registers beside a dY vector
    /// (25 of AVX-512's 32, 12 of AVX2's 16). A function of the shape and block size only.
    /// </summary>
    public static bool DepthwiseWeightInRegisters(BlockedGeometry g) =>
        g.Depthwise && IsPlanar(g) && g.Ker[1] <= 5 && g.Ker[2] <= 5 &&
        g.Ker[1] * g.Ker[2] <= (g.B == 16 ? 25 : 12);

    /// <summary>
    /// Whether the blocked depthwise forward (or backward-data) runs on <see cref="DepthwisePlanesTile"/>, one call per
    /// image and channel block walking every row, rather than by output-row pairs with the rows listed and the border
    /// pixels run outside the tile: a 2-D problem (no depth axis) with at most 16 kernel rows and width taps, and for
    /// backward-data unit strides (the flipped kernel is then a plain correlation; strided dX stays on its stride phases).
    /// A function of the shape, pass and block size only.
    /// </summary>
    public static bool DepthwisePlanes(BlockedGeometry g, ConvPass pass) =>
        g.Depthwise && IsPlanar(g) && g.Ker[1] <= 16 && g.Ker[2] <= 16 &&
        (pass == ConvPass.Forward || (pass == ConvPass.BackwardData && g.S[1] == 1 && g.S[2] == 1));

    /// <summary>Whether the depthwise kernels take their Vector256 + FMA paths on <paramref name="tier"/> (AVX2 and up), else the scalar ones.</summary>
    public static bool DepthwiseVector(IsaTier tier) => tier >= IsaTier.Avx2 && DepthwiseKernels.VectorPath;

    /// <summary>
    /// The rule for the direct blocked kernels behind the NCHW API (measured with <c>convgrad bench</c>, conversions
    /// included): a vector tier (block 16 on AVX-512, 8 on AVX2; never portable), not depthwise with one filter per channel,
    /// a kernel of more than one tap (a 1x1 convolution is a plain GEMM that reads NCHW in place, and there the two
    /// conversions cost more than the blocked kernel saves), the blocked kernels cover the grouping and are worthwhile (at
    /// least half a block of input channels per group, or a first layer's backward-weight, whose kernel reads the 1-3
    /// channel NCHW input in place: <see cref="FirstLayerBackwardWeight"/>), and the blocked workspace fits in
    /// <see cref="BlockedNchw.MaxWorkspaceBytes"/>. A function of the shape, tier and thread count only.
    /// </summary>
    public static bool UsesDirectBlocked(ConvProblem p, ConvPass pass, IsaTier tier, int threads)
    {
        int block = BlockSize(tier);
        bool firstLayer = FirstLayerBackwardWeight(p, pass);
        return block != 0 && !p.IsChannelwise && p.KerSpatial > 1 && (BlockedConv.Worthwhile(p, block) || firstLayer) &&
               BlockedConv.Applies(p, pass, block) && BlockedNchw.WorkspaceBytes(p, pass, block, threads, firstLayer) <= BlockedNchw.MaxWorkspaceBytes;
    }

    /// <summary>
    /// Whether an NCHW backward-weight runs on the first-layer kernel, which reads the NCHW input in place (see
    /// <see cref="FlatInput"/>): one group with 1-3 input channels and at least <see cref="BlockedConvPlan.ParallelThreshold"/>
    /// multiply-adds, where the GEMM has a reduction of only C·taps rows per column (measured, loaded machine, 1 thread:
    /// mnist-c1 dW 40-60 ms on the GEMM, 11 ms here with dY converted inside the call). Forward stays on the GEMM:
    /// converting y out of the layout costs about as much as a 1-3 channel convolution (mnist-c1 forward 0.7 ms on the
    /// GEMM, 2 ms with the conversion).
    /// </summary>
    public static bool FirstLayerBackwardWeight(ConvProblem p, ConvPass pass) =>
        pass == ConvPass.BackwardWeight && FlatInput.Applies(p) && p.MultiplyAdds >= BlockedConvPlan.ParallelThreshold;

    /// <summary>
    /// Whether the blocked kernels compute a strided 1x1 layer's dX and dW through a dense panel of the sampled pixels
    /// (gathered once, then the unit-stride kernel over whole images, as oneDNN reduces strided 1x1): no padding, every
    /// output inside the input, not depthwise (<see cref="DenseSubsample"/>).
    /// </summary>
    public static bool UsesDensePanel(ConvProblem p) => DenseSubsample.Applies(p);

    /// <summary>
    /// Whether the blocked forward of a strided 1x1 layer (<see cref="UsesDensePanel"/>) also runs on the dense panel:
    /// on AVX2, where a vector is half a cache line, the direct tile reading every s-th pixel wastes half of each line
    /// it touches, once per output-block tile.
    /// </summary>
    public static bool UsesDensePanelForward(ConvProblem p, int blockSize) => blockSize == 8 && UsesDensePanel(p);

    /// <summary>
    /// Whether the blocked kernels compute dX of <paramref name="p"/> as dot products over the output channels
    /// (<see cref="FewChannelDotKernels{TI, TV}"/>): a first layer, one group with 1-3 input channels
    /// (<see cref="FlatInput.Applies"/>), whose dX block would otherwise be computed with all its lanes and only 1-3 kept
    /// (measured, 1 thread, under load: mnist-c1 dX and the 7x7 stride-2 stem's dX, see the commit).
    /// </summary>
    public static bool UsesFewChannelDot(ConvProblem p) => FlatInput.Applies(p);

    /// <summary>
    /// Whether the blocked forward (or backward-data) of <paramref name="p"/> reads a copy of x (or dY) with its width
    /// padding written in (<see cref="PaddedColumns"/>, made once per call) instead of staging the padded columns of each
    /// tile at the row ends: the direct dense kernels (not depthwise, not the few-channel dX or the strided 1×1 panel),
    /// when the tiles would stage at least <see cref="PaddedColumnsRatio"/> floats per float of the copy, a copy of at most
    /// <see cref="PaddedColumnsMaxBytes"/> (a row of few
    /// tiles that reach the padding, staged again for each output-block group: rn50-3x3-7, whose one 7-pixel tile per row
    /// stages for each of 8 output quads). A function of the shape, pass and block size only.
    /// </summary>
    public static bool PadsColumns(ConvProblem p, BlockedGeometry g, ConvPass pass) =>
        !g.Depthwise && (pass == ConvPass.Forward ? !UsesDensePanelForward(p, g.B)
            : pass == ConvPass.BackwardData && !UsesFewChannelDot(p) && !UsesDensePanel(p)) &&
        PaddedColumns.For(g, pass).Ratio >= PaddedColumnsRatio && PaddedColumns.Make(g, pass).Floats * sizeof(float) <= PaddedColumnsMaxBytes;

    /// <summary>
    /// The largest padded copy (bytes) <see cref="PadsColumns"/> makes: a copy of x or dY that stays in cache beside it
    /// (rn50-3x3-56's 6.6 MB copy gained 5 % forward and nothing on dX), and plan memory kept small, since the NCHW path's
    /// workspace cap (<see cref="BlockedNchw.MaxWorkspaceBytes"/>) does not count it.
    /// </summary>
    public const long PaddedColumnsMaxBytes = 4L << 20;

    /// <summary>
    /// Staged floats per copied float from which a padded copy pays (<see cref="PadsColumns"/>). Measured, 1 thread,
    /// thread CPU time, under load: at 2.5 the copy wins or ties on every suite row it takes (grouped-g4 -12 to -15 %,
    /// rn50-3x3-56 forward -5 %, its dX even; the ResNet's 16-64 channel 3×3 layers -10 %); at 8 only rn50-3x3-7 and AVX2
    /// mnist-c2 forward took it.
    /// </summary>
    public const double PaddedColumnsRatio = 2.5;

    /// <summary>Whether a pass that gets x as NCHW and y or dY blocked runs on the first-layer kernels (forward and dW; a vector tier).</summary>
    private static bool ReadsFirstLayerInput(ConvProblem p, ConvPass pass, IsaTier tier) =>
        pass != ConvPass.BackwardData && BlockSize(tier) != 0 && FlatInput.Applies(p) && RunsBlocked(p, BlockSize(tier));

    /// <summary>
    /// Whether a network feeds this layer its input as plain NCHW rather than blocked (one group, 1-3 input channels: the
    /// first-layer kernels read it in place), as <c>bench</c> times its blocked rows.
    /// </summary>
    public static bool TakesNchwInput(ConvProblem p) => FlatInput.Applies(p);

    /// <summary>The block of a tier's direct kernels: 16 on AVX-512, 8 on AVX2, 0 (none) on the portable tier.</summary>
    public static int BlockSize(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => 16,
        IsaTier.Avx2 => 8,
        _ => 0,
    };

    /// <summary>
    /// The channel block activations may keep between layers with <paramref name="options"/>, or 0 when they stay NCHW:
    /// the float path of the fast CPU engine on a vector tier (after the options' ISA cap); never the reference engine, a
    /// device backend or the portable tier.
    /// </summary>
    public static int BlockSize(ConvOptions? options)
    {
        var o = options ?? ConvOptions.Default;
        return o.Engine != ConvEngine.Fast || o.Backend is not null ? 0 : BlockSize(IsaTiers.Resolve(o.MaxIsa));
    }

    /// <summary>
    /// Whether blocked tensors of block <paramref name="blockSize"/> run <paramref name="p"/> on the direct blocked
    /// kernels: the tier's block (never 0) and a grouping the kernels cover (one group, whole channel blocks per group, or
    /// depthwise with one filter per channel).
    /// </summary>
    public static bool RunsBlocked(ConvProblem p, int blockSize) => blockSize != 0 && BlockedConv.Applies(p, ConvPass.Forward, blockSize);

    /// <summary>Whether blocked tensors of block <paramref name="blockSize"/> run <paramref name="p"/> on the direct blocked kernels with <paramref name="options"/>.</summary>
    public static bool RunsBlocked(ConvProblem p, int blockSize, ConvOptions? options) => blockSize == BlockSize(options) && RunsBlocked(p, blockSize);

    /// <summary>
    /// The plan of a pass on blocked tensors of block <paramref name="blockSize"/> with <paramref name="options"/> (the
    /// public blocked API and the autograd): the direct blocked kernels when the block is the options' tier's and they
    /// cover the grouping, else <see cref="ConvKernel.ThroughNchw"/> (another engine, a device, the portable tier or a
    /// block of another tier included).
    /// </summary>
    public static ConvPlan PlanBlocked(ConvProblem p, ConvPass pass, int blockSize, ConvOptions? options)
    {
        var o = options ?? ConvOptions.Default;
        var tier = IsaTiers.Resolve(o.MaxIsa);
        var kernel = RunsBlocked(p, blockSize, o) ? ConvKernel.DirectBlocked : ConvKernel.ThroughNchw;
        return new ConvPlan(p, pass, tier, PlanLayout.Blocked, o.EffectiveThreads, kernel, TileSplit.Parts(p, o.EffectiveThreads));
    }

    /// <summary>
    /// The layout a layer that keeps its activations blocked computes <paramref name="p"/> in, given its input's block
    /// (<paramref name="inputBlock"/>, 0 for NCHW) and the block of the options' tier (<paramref name="block"/>,
    /// not 0): <see cref="PlanLayout.Blocked"/> (the input converted first when it is not in that block) when the blocked
    /// kernels cover the problem and, for an input not yet in the block, are worthwhile (at least half a block of input
    /// channels per group); else <see cref="PlanLayout.Nchw"/>, the output converted to the block after.
    /// </summary>
    public static PlanLayout LayerLayout(ConvProblem p, int inputBlock, int block) =>
        RunsBlocked(p, block) && (inputBlock == block || BlockedConv.Worthwhile(p, block)) ? PlanLayout.Blocked : PlanLayout.Nchw;

    /// <summary>The GEMM register tile of a tier (the linear layer's SGEMM and the convolution GEMMs).</summary>
    public static GemmTileKind GemmTile(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => GemmTileKind.Tile12x32Avx512,
        IsaTier.Avx2 => GemmTileKind.Tile6x16Avx2,
        _ => GemmTileKind.Tile6x8Portable,
    };

    /// <summary>The GEMM tile of a tier, as bench and explain name it (e.g. <c>gemm12x32 avx512</c>).</summary>
    public static string GemmName(IsaTier tier) => GemmTile(tier) switch
    {
        GemmTileKind.Tile12x32Avx512 => Tile12x32Avx512.Name,
        GemmTileKind.Tile6x16Avx2 => Tile6x16Avx2.Name,
        _ => Tile6x8Portable.Name,
    };

    /// <summary>
    /// A plan with a given kernel instead of the chosen one (tests run the GEMM on problems that normally take another
    /// kernel); the kernel must be able to compute the problem.
    /// </summary>
    internal static ConvPlan WithKernel(ConvProblem p, ConvPass pass, IsaTier tier, ConvKernel kernel, int threads)
    {
        bool valid = kernel switch
        {
            ConvKernel.DepthwiseRows => DepthwiseKernels.Applies(p),
            ConvKernel.DepthwiseBlocked8 => DepthwiseKernels.Applies(p) && DepthwiseKernel(p, pass, tier) == ConvKernel.DepthwiseBlocked8,
            ConvKernel.FewChannelsBackwardData => pass == ConvPass.BackwardData && tier >= IsaTier.Avx2 && BackwardDataFewChannels.Applies(p),
            ConvKernel.DirectBlocked => BlockSize(tier) != 0 && BlockedConv.Applies(p, pass, BlockSize(tier)),
            ConvKernel.FirstLayer => BlockSize(tier) != 0 && FirstLayerBackwardWeight(p, pass),
            ConvKernel.ThroughNchw => false,
            _ => true,
        };
        if (!valid)
        {
            throw new ArgumentException($"the {kernel} kernel cannot compute {pass} of this problem on {tier}", nameof(kernel));
        }
        return new ConvPlan(p, pass, tier, PlanLayout.Nchw, threads, kernel, TileSplit.Parts(p, threads));
    }
}

/// <summary>The GEMM register tiles, one per tier (<see cref="ConvPlanner.GemmTile"/>).</summary>
internal enum GemmTileKind
{
    /// <summary>12 × 32 floats in 24 zmm accumulators (AVX-512).</summary>
    Tile12x32Avx512,

    /// <summary>6 × 16 floats in 12 ymm accumulators (AVX2 + FMA).</summary>
    Tile6x16Avx2,

    /// <summary>6 × 8 floats in Vector128 accumulators (portable).</summary>
    Tile6x8Portable,
}
