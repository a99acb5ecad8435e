using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The blocked direct kernels behind the public NCHW API, as PyTorch runs its blocked kernels: each call converts its
/// NCHW operands into a per-thread blocked workspace, reblocks the weights the pass needs, runs the
/// <see cref="BlockedConvPlan"/> and converts the result back; the conversions count in the call's time. The plans
/// (geometry, reblocked-weight arrays, work objects) are kept in a small per-thread cache keyed by the problem's shape,
/// so a repeated call allocates nothing.
/// </summary>
internal sealed unsafe class BlockedNchw
{
    /// <summary>The most workspace (bytes) a blocked NCHW call may use; larger problems stay on the GEMM path.</summary>
    public const long MaxWorkspaceBytes = 16L << 20;

    private const int CacheSize = 8;

    /// <summary>Floats of dW accumulators one thread keeps live at most (<see cref="BlockedConvPlan"/>'s budget).</summary>
    private const long AccumulatorBudget = 1 << 20;

    [ThreadStatic] private static BlockedNchw?[]? t_cache;
    [ThreadStatic] private static int t_next;
    [ThreadStatic] private static float[]? t_activations;

    private readonly BlockedConvPlan _plan;
    private readonly BlockedLayout.Reorder _reorder = new();

    private BlockedNchw(ConvProblem p, int blockSize) => _plan = new BlockedConvPlan(p, blockSize);

    /// <summary>The block of a tier's direct kernels: 16 on AVX-512, 8 on AVX2, 0 (none) on the portable tier.</summary>
    public static int BlockSize(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => 16,
        IsaTier.Avx2 => 8,
        _ => 0,
    };

    /// <summary>
    /// The workspace (bytes) of one blocked NCHW call of <paramref name="pass"/>: the blocked input and output
    /// activations, the reblocked weights and padded bias the pass needs, and for backward-weight the accumulators of up
    /// to <paramref name="threads"/> threads. Computed from the shape alone (no allocation).
    /// </summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass, int blockSize, int threads)
    {
        if (ReadsNchw(p, pass))
        {
            // The blocked y (or dY) and the first-layer kernel's own scratch; the input stays NCHW.
            return (long)p.N * ((p.K + blockSize - 1) / blockSize) * blockSize * p.OutSpatial * sizeof(float) + FlatInput.WorkspaceBytes(For(p, blockSize)._plan.Geometry, pass, threads);
        }
        long b = blockSize, cb = (p.C + b - 1) / b, kb = (p.K + b - 1) / b;
        long cbG = (p.Cg + b - 1) / b, kbG = (p.Kg + b - 1) / b, taps = p.KerSpatial;
        long floats = ActivationFloats(p, blockSize);
        bool depthwise = BlockedGeometry.IsDepthwise(p);
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
            long ow = blockSize == 16 ? 4 : 2; // BlockedGeometry.WeightOutBlocks
            long accumulators = p.Groups * ((kbG + ow - 1) / ow) * cbG * ow * taps * b * b;
            floats += Math.Max(1, threads) * Math.Min(accumulators, AccumulatorBudget);

        }
        if (pass != ConvPass.Forward && DenseSubsample.Applies(p))
        {
            floats += (long)p.N * cb * b * p.OutSpatial; // the strided 1×1 passes' dense panel
        }
        return floats * sizeof(float);
    }

    /// <summary>
    /// The workspace of the blocked kernels themselves on tensors already in the layout: <see cref="WorkspaceBytes"/>
    /// without the blocked activation copies (reblocked weights, padded bias, dW accumulators).
    /// </summary>
    public static long KernelWorkspaceBytes(ConvProblem p, ConvPass pass, int blockSize, int threads) =>
        ReadsNchw(p, pass) ? FlatInput.WorkspaceBytes(For(p, blockSize)._plan.Geometry, pass, threads) : WorkspaceBytes(p, pass, blockSize, threads) - ActivationFloats(p, blockSize) * sizeof(float);

    private static long ActivationFloats(ConvProblem p, int b) =>
        (long)p.N * ((p.C + b - 1) / b) * b * p.InSpatial + (long)p.N * ((p.K + b - 1) / b) * b * p.OutSpatial;

    /// <summary>
    /// Runs <paramref name="pass"/> on NCHW memory: forward <c>(a, b, bias, output) = (x, w, b, y)</c>, backward-data
    /// <c>(dy, w, -, dx)</c>, backward-weight <c>(x, dy, -, dw)</c>, as <see cref="ConvPlan.Run"/>.
    /// </summary>
    public static void Run(ConvProblem p, ConvPass pass, int blockSize, int threads, float* a, float* b, ReadOnlySpan<float> bias, float* output)
    {
        var runner = For(p, blockSize);
        var plan = runner._plan;
        var g = plan.Geometry;
        int w = (int)Shapes.Product(p.WeightShape);
        if (ReadsNchw(p, pass))
        {
            // A first layer: the kernels read the NCHW input as it is; only y (or dY) is blocked.
            float* blockedY = Activations((long)p.N * g.Kb * blockSize * p.OutSpatial);
            if (pass == ConvPass.Forward)
            {
                plan.ReblockFlat(new ReadOnlySpan<float>(b, w), bias);
                plan.ForwardFromNchw(a, blockedY, threads);
                runner.Convert(output, blockedY, p.N, p.K, p.OutSpatial, false, threads);
            }
            else
            {
                runner.Convert(b, blockedY, p.N, p.K, p.OutSpatial, true, threads);
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
                runner.Convert(a, blockedIn, p.N, p.C, p.InSpatial, true, threads);
                plan.Forward(blockedIn, blockedOut, threads);
                runner.Convert(output, blockedOut, p.N, p.K, p.OutSpatial, false, threads);
                break;
            case ConvPass.BackwardData:
                plan.Reblock(pass, new ReadOnlySpan<float>(b, w), default);
                runner.Convert(a, blockedOut, p.N, p.K, p.OutSpatial, true, threads);
                plan.BackwardData(blockedOut, blockedIn, threads);
                runner.Convert(output, blockedIn, p.N, p.C, p.InSpatial, false, threads);
                break;
            default:
                runner.Convert(a, blockedIn, p.N, p.C, p.InSpatial, true, threads);
                runner.Convert(b, blockedOut, p.N, p.K, p.OutSpatial, true, threads);
                plan.BackwardWeight(blockedIn, blockedOut, output, threads);
                break;
        }
    }

    /// <summary>
    /// Whether <paramref name="pass"/> of <paramref name="p"/> runs on the first-layer kernel, which reads the NCHW input
    /// in place (see <see cref="FlatInput"/>): backward-weight of one group with 1-3 input channels and at least
    /// <see cref="BlockedConvPlan.ParallelThreshold"/> multiply-adds, where the GEMM has a reduction of only C·taps rows
    /// per column (measured, loaded machine, 1 thread: mnist-c1 dW 40-60 ms on the GEMM, 11 ms here with dY converted
    /// inside the call). Forward stays on the GEMM: converting y out of the layout costs about as much as a 1-3 channel
    /// convolution (mnist-c1 forward 0.7 ms on the GEMM, 2 ms with the conversion).
    /// </summary>
    public static bool ReadsNchw(ConvProblem p, ConvPass pass) =>
        pass == ConvPass.BackwardWeight && FlatInput.Applies(p) && p.MultiplyAdds >= BlockedConvPlan.ParallelThreshold;

    /// <summary>The name of the blocked kernel of <paramref name="pass"/> (e.g. <c>direct-blocked16 avx512 14x2</c>, <c>direct-flat16 avx512 14x2</c>).</summary>
    public static string Name(ConvProblem p, ConvPass pass, int blockSize) =>
        ReadsNchw(p, pass) ? For(p, blockSize)._plan.FlatName(pass) : For(p, blockSize)._plan.Name(pass);

    /// <summary>The blocked kernel's description.</summary>
    public static string Describe(ConvProblem p, ConvPass pass, int blockSize) =>
        ReadsNchw(p, pass) ? For(p, blockSize)._plan.FlatDescribe(pass) : For(p, blockSize)._plan.Describe(pass);

    private void Convert(float* nchw, float* blocked, int n, int c, int spatial, bool toBlocked, int threads) =>
        BlockedLayout.Run(_reorder, nchw, blocked, n, c, _plan.BlockSize, spatial, toBlocked, Math.Max(1, threads));

    /// <summary>This thread's runner for the shape of <paramref name="p"/>, made on first use (round-robin cache).</summary>
    private static BlockedNchw For(ConvProblem p, int blockSize)
    {
        var cache = t_cache ??= new BlockedNchw?[CacheSize];
        foreach (var r in cache)
        {
            if (r is not null && r._plan.BlockSize == blockSize && SameShape(r._plan.Problem, p))
            {
                return r;
            }
        }
        var made = new BlockedNchw(p, blockSize);
        cache[t_next] = made;
        t_next = (t_next + 1) % CacheSize;
        return made;
    }

    private static bool SameShape(ConvProblem a, ConvProblem b) =>
        a.Dims == b.Dims && a.N == b.N && a.C == b.C && a.K == b.K && a.Groups == b.Groups &&
        a.In.AsSpan().SequenceEqual(b.In) && a.Out.AsSpan().SequenceEqual(b.Out) && a.Ker.AsSpan().SequenceEqual(b.Ker) &&
        a.Stride.AsSpan().SequenceEqual(b.Stride) && a.Dil.AsSpan().SequenceEqual(b.Dil) && a.Pad.AsSpan().SequenceEqual(b.Pad);

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
