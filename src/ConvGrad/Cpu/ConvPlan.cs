using ConvGrad.Cpu.Blocked;
using ConvGrad.Cpu.Depthwise;
using ConvGrad.Cpu.Gemm;
using Avx512Tile = ConvGrad.Cpu.Gemm.Tile12x32Avx512;

namespace ConvGrad.Cpu;

/// <summary>
/// One pass of one problem on one ISA tier, planned once (as oneDNN's primitive descriptor or XNNPACK's operator):
/// <see cref="Create"/> picks the kernel (<see cref="Kernel"/>, named by <see cref="Name"/>, e.g. <c>gemm12x32 avx512</c>)
/// and the thread split; <see cref="WorkspaceBytes"/>, <see cref="Describe"/> and <see cref="Run"/> all follow that one
/// choice and never re-derive it. A plan is a small immutable value: it can be kept and reused for every call of its
/// shape, and the one-shot <c>Conv.*</c> calls make one on the stack per call (no allocation).
/// </summary>
internal readonly unsafe struct ConvPlan
{
    private ConvPlan(ConvProblem problem, ConvPass pass, IsaTier tier, int threads, ConvKernel kernel, int parts)
    {
        Problem = problem;
        Pass = pass;
        Tier = tier;
        Threads = threads;
        Kernel = kernel;
        Parts = parts;
    }

    /// <summary>The problem planned for.</summary>
    public ConvProblem Problem { get; }

    /// <summary>The pass planned for.</summary>
    public ConvPass Pass { get; }

    /// <summary>The instruction-set tier every kernel of the plan runs on.</summary>
    public IsaTier Tier { get; }

    /// <summary>The thread count asked for.</summary>
    public int Threads { get; }

    /// <summary>The kernel chosen.</summary>
    public ConvKernel Kernel { get; }

    /// <summary>Static parts the GEMM and few-channel kernels split their output tiles into (1 below the parallel threshold).</summary>
    public int Parts { get; }

    /// <summary>
    /// Plans <paramref name="pass"/> of <paramref name="p"/> on <paramref name="tier"/> with up to <paramref name="threads"/>
    /// threads. The choice: depthwise problems (one input channel per group, several groups) take the direct depthwise
    /// kernels (as a GEMM they would have a one-row reduction per tap; on the blocked layout the conversions cost more than
    /// the convolution); on AVX-512 and AVX2, problems with more than one kernel tap whose groups have whole channel blocks
    /// or one group, at least half a block of input channels (<see cref="BlockedConv.Worthwhile"/>) and a blocked
    /// workspace of at most 16 MiB take the
    /// direct blocked kernels with the NCHW conversions inside the call (<see cref="UsesDirectBlocked"/>); backward-data
    /// of groups with at most three input channels takes the direct few-channel kernel on AVX2 and up (a GEMM would spend
    /// its time packing dY); everything else the tier's blocked GEMM.
    /// </summary>
    public static ConvPlan Create(ConvProblem p, ConvPass pass, IsaTier tier, int threads)
    {
        ConvKernel kernel = p.Groups > 1 && DepthwiseKernels.Applies(p) ? ConvKernel.Depthwise
            : UsesDirectBlocked(p, pass, tier, threads) ? ConvKernel.DirectBlocked
            : pass == ConvPass.BackwardData && tier >= IsaTier.Avx2 && BackwardDataFewChannels.Applies(p) ? ConvKernel.FewChannelsBackwardData
            : ConvKernel.Gemm;
        return new ConvPlan(p, pass, tier, threads, kernel, TileSplit.Parts(p, threads));
    }

    /// <summary>
    /// The rule for the direct blocked kernels behind the NCHW API (measured with <c>convgrad bench</c>, conversions
    /// included): a vector tier (block 16 on AVX-512, 8 on AVX2; never portable), not depthwise, a kernel of more than
    /// one tap (a 1x1 convolution is a plain GEMM that reads NCHW in place, and there the two conversions cost more than
    /// the blocked kernel saves), the blocked kernels cover the grouping and are worthwhile (at least half a block of
    /// input channels per group, or a first layer's backward-weight, whose kernel reads the 1-3 channel NCHW input in
    /// place: <see cref="BlockedNchw.ReadsNchw"/>), and the blocked workspace fits in <see cref="BlockedNchw.MaxWorkspaceBytes"/>. A
    /// function of the shape, tier and thread count only.
    /// </summary>
    public static bool UsesDirectBlocked(ConvProblem p, ConvPass pass, IsaTier tier, int threads)
    {
        int block = BlockedNchw.BlockSize(tier);
        return block != 0 && !BlockedGeometry.IsDepthwise(p) && p.KerSpatial > 1 && (BlockedConv.Worthwhile(p, block) || BlockedNchw.ReadsNchw(p, pass)) && BlockedConv.Applies(p, pass, block) &&
               BlockedNchw.WorkspaceBytes(p, pass, block, threads) <= BlockedNchw.MaxWorkspaceBytes;
    }

    /// <summary>
    /// A plan with a given kernel instead of the chosen one (tests run the GEMM on problems that normally take
    /// another kernel); the kernel must be able to compute the problem.
    /// </summary>
    internal static ConvPlan WithKernel(ConvProblem p, ConvPass pass, IsaTier tier, ConvKernel kernel, int threads)
    {
        bool valid = kernel switch
        {
            ConvKernel.Depthwise => DepthwiseKernels.Applies(p),
            ConvKernel.FewChannelsBackwardData => pass == ConvPass.BackwardData && tier >= IsaTier.Avx2 && BackwardDataFewChannels.Applies(p),
            ConvKernel.DirectBlocked => BlockedNchw.BlockSize(tier) != 0 && BlockedConv.Applies(p, pass, BlockedNchw.BlockSize(tier)),
            _ => true,
        };
        if (!valid)
        {
            throw new ArgumentException($"the {kernel} kernel cannot compute {pass} of this problem on {tier}", nameof(kernel));
        }
        return new ConvPlan(p, pass, tier, threads, kernel, TileSplit.Parts(p, threads));
    }

    /// <summary>The GEMM tile of a tier, as bench and explain name it (e.g. <c>gemm12x32 avx512</c>).</summary>
    public static string GemmName(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => Avx512Tile.Name,
        IsaTier.Avx2 => Tile6x16Avx2.Name,
        _ => Tile6x8Portable.Name,
    };

    /// <summary>Whether the depthwise kernels take their Vector256 + FMA paths on <paramref name="tier"/> (AVX2 and up), else the scalar ones.</summary>
    public static bool DepthwiseVector(IsaTier tier) => tier >= IsaTier.Avx2 && DepthwiseKernels.VectorPath;

    /// <summary>The kernel's name with its tier, e.g. <c>gemm12x32 avx512</c>, <c>dx-few-channels avx2</c>, <c>depthwise-blocked8 avx512</c>.</summary>
    public string Name => Kernel switch
    {
        ConvKernel.Depthwise => DepthwiseKernels.KernelName(Problem, Pass, DepthwiseVector(Tier)) + " " + IsaTiers.Name(Tier),
        ConvKernel.FewChannelsBackwardData => "dx-few-channels " + IsaTiers.Name(Tier),
        ConvKernel.DirectBlocked => BlockedNchw.Name(Problem, Pass, BlockedNchw.BlockSize(Tier)),
        _ => GemmName(Tier),
    };

    /// <summary>The scratch memory (bytes) one run uses.</summary>
    public long WorkspaceBytes => Kernel switch
    {
        ConvKernel.Depthwise => DepthwiseKernels.WorkspaceBytes(Problem, Pass, Threads, DepthwiseVector(Tier)),
        ConvKernel.FewChannelsBackwardData => BackwardDataFewChannels.WorkspaceBytes(Problem, Parts),
        ConvKernel.DirectBlocked => BlockedNchw.WorkspaceBytes(Problem, Pass, BlockedNchw.BlockSize(Tier), Threads),
        _ => Tier switch
        {
            IsaTier.Avx512 => GemmWorkspaceBytes<Avx512Tile>(),
            IsaTier.Avx2 => GemmWorkspaceBytes<Tile6x16Avx2>(),
            _ => GemmWorkspaceBytes<Tile6x8Portable>(),
        },
    };

    private long GemmWorkspaceBytes<TK>() where TK : struct, IGemmTile => Pass switch
    {
        ConvPass.Forward => ForwardGemm.WorkspaceBytes<TK>(Problem, Parts),
        ConvPass.BackwardData => BackwardDataByPhases.WorkspaceBytes<TK>(Problem, Parts),
        _ => BackwardWeightGemm.WorkspaceBytes<TK>(Problem, Parts),
    };

    /// <summary>
    /// Runs the pass: forward <c>(a, b, bias, output) = (x, w, b, y)</c>, backward-data <c>(dy, w, -, dx)</c>,
    /// backward-weight <c>(x, dy, -, dw)</c>. Spans have the problem's lengths (checked by the caller).
    /// </summary>
    public void Run(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> bias, Span<float> output)
    {
        if (Kernel == ConvKernel.Depthwise)
        {
            bool vector = DepthwiseVector(Tier);
            switch (Pass)
            {
                case ConvPass.Forward:
                    DepthwiseKernels.Forward(Problem, a, b, bias, output, Threads, vector);
                    break;
                case ConvPass.BackwardData:
                    DepthwiseKernels.BackwardData(Problem, a, b, output, Threads, vector);
                    break;
                default:
                    DepthwiseKernels.BackwardWeight(Problem, a, b, output, Threads, vector);
                    break;
            }
            return;
        }
        fixed (float* pa = a, pb = b, pbias = bias, po = output)
        {
            if (Kernel == ConvKernel.DirectBlocked)
            {
                BlockedNchw.Run(Problem, Pass, BlockedNchw.BlockSize(Tier), Threads, pa, pb, bias, po);
            }
            else if (Parts <= 1)
            {
                RunPart(pa, pb, pbias, po, 0, 1);
            }
            else
            {
                WorkerPool.Run(new PartsWork(this, pa, pb, pbias, po), Parts);
            }
        }
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/> of a GEMM or few-channel plan (what each worker runs): its
    /// static share of the output tiles. Every element belongs to one part and gets the same summation whatever the split.
    /// </summary>
    public void RunPart(float* a, float* b, float* bias, float* output, int part, int parts)
    {
        if (Kernel is ConvKernel.Depthwise or ConvKernel.DirectBlocked)
        {
            throw new InvalidOperationException("depthwise and blocked plans split their own work (internal error)");
        }
        if (Kernel == ConvKernel.FewChannelsBackwardData)
        {
            BackwardDataFewChannels.Run(Problem, a, b, output, part, parts);
            return;
        }
        switch (Tier)
        {
            case IsaTier.Avx512:
                RunGemm<Avx512Tile>(a, b, bias, output, part, parts);
                break;
            case IsaTier.Avx2:
                RunGemm<Tile6x16Avx2>(a, b, bias, output, part, parts);
                break;
            default:
                RunGemm<Tile6x8Portable>(a, b, bias, output, part, parts);
                break;
        }
    }

    private void RunGemm<TK>(float* a, float* b, float* bias, float* output, int part, int parts) where TK : struct, IGemmTile
    {
        switch (Pass)
        {
            case ConvPass.Forward:
                ForwardGemm.Run<TK>(Problem, a, b, bias, output, part, parts);
                break;
            case ConvPass.BackwardData:
                BackwardDataByPhases.Run<TK>(Problem, a, b, output, part, parts);
                break;
            default:
                BackwardWeightGemm.Run<TK>(Problem, a, b, output, part, parts);
                break;
        }
    }

    /// <summary>One paragraph, in plain words, on the kernel this plan runs and why (what explain and bench show), ending with the kernel's <see cref="Name"/>.</summary>
    public string Describe() => $"{DescribeKernel()} Kernel: {Name}.";

    private string DescribeKernel()
    {
        var p = Problem;
        var pass = Pass;
        if (Kernel == ConvKernel.Depthwise)
        {
            return DepthwiseKernels.Describe(p, pass, DepthwiseVector(Tier));
        }
        if (Kernel == ConvKernel.DirectBlocked)
        {
            int block = BlockedNchw.BlockSize(Tier);
            string converted = pass == ConvPass.BackwardWeight ? "x and dY are converted" : pass == ConvPass.Forward ? "x is converted in and y out" : "dY is converted in and dX out";
            if (BlockedNchw.ReadsNchw(p, pass))
            {
                return $"With {p.C} input channel(s) (a first layer) the GEMM would reduce over only {p.C * p.KerSpatial} rows per column, so the fast engine computes dW with the first-layer kernel, which reads x as it is and dY in the channel-blocked layout. " +
                       $"Inside this NCHW call dY is converted into that layout in a per-thread workspace ({BlockedNchw.WorkspaceBytes(p, pass, block, Threads)} bytes, at most {BlockedNchw.MaxWorkspaceBytes >> 20} MiB, else the GEMM runs), and the conversion counts in the call's time. " +
                       BlockedNchw.Describe(p, pass, block);
            }
            return $"With {p.Cg} input channels per group (at least half a {block}-channel block) the fast engine uses the direct kernels on the channel-blocked layout rather than the GEMM: they ran up to 2-4x faster on the suite's 3x3 layers, conversions included; depthwise and 1x1 layers stay on their NCHW kernels because there the conversions cost more than the blocked kernel saves. " +
                   $"Inside this NCHW call {converted} of the blocked layout in a per-thread workspace ({BlockedNchw.WorkspaceBytes(p, pass, block, Threads)} bytes, at most {BlockedNchw.MaxWorkspaceBytes >> 20} MiB, else the GEMM runs), and the conversions count in the call's time. " +
                   BlockedNchw.Describe(p, pass, block);
        }
        string kernel = Tier switch
        {
            IsaTier.Avx512 => $"a {Avx512Tile.MR}x{Avx512Tile.NR} AVX-512 micro-kernel ({GemmName(Tier)}: {Avx512Tile.MR * Avx512Tile.NR / 16} zmm accumulators)",
            IsaTier.Avx2 => $"a 6x16 AVX2/FMA micro-kernel ({GemmName(Tier)})",
            _ => $"a portable 6x8 Vector128 micro-kernel ({GemmName(Tier)}; no AVX2/FMA intrinsics)",
        };
        string groups = p.Groups == 1 ? "" : $" There are {p.Groups} groups; each is an independent GEMM.";
        switch (pass)
        {
            case ConvPass.Forward:
            {
                bool direct = ForwardGemm.ReadsInPlace(p);
                string b = direct
                    ? $"This is a 1x1 convolution with stride 1 and no padding, so the im2col matrix of each image is X itself and the GEMM reads it in place, with no copy: one GEMM per image and group, Y[{p.Kg} x {p.OutSpatial}] = W[{p.Kg} x {p.Cg}] · X."
                    : $"One GEMM per group with the batch folded into the columns, Y[{p.Kg} x {(long)p.N * p.OutSpatial}] = W[{p.Kg} x {p.Cg * p.KerSpatial}] · im2col(X); the im2col matrix is never built: the packer gathers one panel of it (about 256 deep) at a time straight from X through the geometry, writing zeros where a window overlaps the padding.";
                return $"The fast engine computes the forward pass as an implicit-im2col GEMM, blocked BLIS-style around {kernel}. {b} The bias starts each sum.{groups}";
            }
            case ConvPass.BackwardData:
            {
                var (phases, empty, min, max) = BackwardDataByPhases.PhaseSummary(p);
                string how = p.UnitStride
                    ? "With stride 1 there is a single phase: a stride-1 correlation of dY with the channel-transposed weight, each tap reading dY at its own offset, zero outside dY."
                    : $"The stride splits dX into {phases} phases (input positions with the same remainder modulo the stride); each phase is a stride-1 correlation of dY with only the kernel taps that reach it ({min} to {max} taps), so the zeros a zero-inserted dY would hold are never built and never multiplied." +
                      (empty > 0 ? $" {empty} phase(s) receive no tap at all and are written with exact zeros." : "");
                if (Kernel == ConvKernel.FewChannelsBackwardData)
                {
                    string phasesText = p.UnitStride ? "With stride 1 there is a single phase." :
                        $"The stride splits dX into {phases} phases (input positions with the same remainder modulo the stride); each is a stride-1 correlation of dY with only the {min} to {max} kernel taps that reach it, so no inserted zero is built or multiplied." +
                        (empty > 0 ? $" {empty} phase(s) receive no tap at all and are written with exact zeros." : "");
                    return $"With only {p.Cg} input channel(s) per group, a GEMM would spend its time packing dY, so the fast engine computes backward-data directly: for each dX row of a stride phase it lists the (output channel, tap) terms whose dY row lies inside the output and sums them with 8-wide FMA vectors along the row, reading dY in place. {phasesText}";
                }
                return $"The fast engine computes backward-data by stride phases, one GEMM per group and phase with the batch folded into the columns: dX_phase[{p.Cg} x N·pixels] = Wᵀ_taps · dY windows, around {kernel}. {how} " +
                       $"Every dX element is written by exactly one tile, so nothing is pre-filled or accumulated twice.{groups}";
            }
            default:
                return $"The fast engine computes backward-weight as one GEMM per group, dW[{p.Kg} x {p.Cg * p.KerSpatial}] = dY[{p.Kg} x {(long)p.N * p.OutSpatial}] · im2col(X)ᵀ, reducing over batch and output positions in blocks of about 256 " +
                       $"in a fixed order, around {kernel}. Threads split the output tiles, never the reduction, so the result is bitwise the same with any thread count. " +
                       $"Only real input samples are gathered (zeros for padding); nothing of a zero-inserted tensor is involved.{groups}";
        }
    }


    private sealed class PartsWork(ConvPlan plan, float* a, float* b, float* bias, float* output) : IPartitionedWork
    {
        public void Run(int part, int parts) => plan.RunPart(a, b, bias, output, part, parts);
    }
}
