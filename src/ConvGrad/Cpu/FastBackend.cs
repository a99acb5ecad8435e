namespace ConvGrad.Cpu;

/// <summary>
/// The fast CPU engine on one ISA tier, as a backend: every call asks the planner for its pass (<see cref="ConvPlanner"/>: the
/// kernel, the split, the workspace) and runs the plan. The kernels are the blocked SGEMM around the tier's register
/// tile (packers that read the tensors through the convolution geometry, so no im2col matrix and no zero-inserted dY
/// is ever built), the direct few-channel dX and the direct depthwise kernels. Work is split statically over the
/// persistent <see cref="WorkerPool"/> by output tiles, so results are bitwise the same for any thread count within a tier.
/// </summary>
internal sealed class FastBackend : IConvBackend
{
    private static readonly FastBackend[] s_byTier = [new(IsaTier.Portable), new(IsaTier.Avx2), new(IsaTier.Avx512)];

    private FastBackend(IsaTier tier) => Tier = tier;

    /// <summary>The engine on the widest tier of this process.</summary>
    public static FastBackend Instance => For(IsaTiers.Best);

    /// <summary>The engine on tier <paramref name="tier"/> (which the caller has checked this process supports: <see cref="IsaTiers.Resolve"/>).</summary>
    public static FastBackend For(IsaTier tier) => s_byTier[(int)tier];

    /// <summary>The instruction-set tier every kernel of this instance runs on.</summary>
    public IsaTier Tier { get; }

    /// <summary>The plan this backend runs for <paramref name="pass"/> of <paramref name="p"/>.</summary>
    public ConvPlan Plan(ConvProblem p, ConvPass pass, int threads) => ConvPlanner.Plan(p, pass, Tier, threads);

    /// <summary>The GEMM tile of a tier, as bench and explain name it (e.g. <c>gemm12x32 avx512</c>).</summary>
    public static string GemmKernelName(IsaTier tier) => ConvPlanner.GemmName(tier);

    /// <summary>The name of the kernel that computes <paramref name="pass"/> of <paramref name="p"/> on this tier.</summary>
    public string KernelName(ConvProblem p, ConvPass pass) => Plan(p, pass, 1).Name;

    public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads) =>
        Plan(p, ConvPass.Forward, threads).Run(x, w, b, y);

    public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads) =>
        Plan(p, ConvPass.BackwardData, threads).Run(dy, w, default, dx);

    public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads) =>
        Plan(p, ConvPass.BackwardWeight, threads).Run(x, dy, default, dw);

    public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads) => Plan(p, pass, threads).WorkspaceBytes;

    public string Describe(ConvProblem p, ConvPass pass) => Plan(p, pass, 1).Describe();
}
