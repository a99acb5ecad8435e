using ConvGrad.Cpu.Blocked;
using ConvGrad.Cpu.Depthwise;
using ConvGrad.Cpu.Gemm;
using Avx512Tile = ConvGrad.Cpu.Gemm.Tile12x32Avx512;

namespace ConvGrad.Cpu;

/// <summary>
/// One pass of one problem on one ISA tier and layout, as <see cref="ConvPlanner"/> planned it: the leaf kernel
/// (<see cref="Kernel"/>, named by <see cref="Name"/>, e.g. <c>gemm12x32 avx512</c>) and the thread split;
/// <see cref="WorkspaceBytes"/>, <see cref="Describe"/> and <see cref="Run"/> all follow that one choice and never
/// re-derive it. A plan is a small immutable value: it can be kept and reused for every call of its shape, and the
/// one-shot <c>Conv.*</c> calls make one on the stack per call (no allocation).
/// </summary>
internal readonly unsafe struct ConvPlan
{
    internal ConvPlan(ConvProblem problem, ConvPass pass, IsaTier tier, PlanLayout layout, int threads, ConvKernel kernel, int parts)
    {
        Problem = problem;
        Pass = pass;
        Tier = tier;
        Layout = layout;
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

    /// <summary>The layout of the activations the plan runs on.</summary>
    public PlanLayout Layout { get; }

    /// <summary>The thread count asked for.</summary>
    public int Threads { get; }

    /// <summary>The kernel chosen.</summary>
    public ConvKernel Kernel { get; }

    /// <summary>Static parts the GEMM and few-channel kernels split their output tiles into (1 below the parallel threshold).</summary>
    public int Parts { get; }

    /// <summary>The channel block of the tier's direct kernels (0 on the portable tier).</summary>
    public int BlockSize => ConvPlanner.BlockSize(Tier);

    /// <summary>The blocked kernels' executor of this thread for the problem (reblocked weights, work objects); only for the blocked kernels.</summary>
    public BlockedConvPlan Executor => PlanCache.For(Problem, BlockSize);

    /// <summary>The plan the NCHW part of a <see cref="ConvKernel.ThroughNchw"/> plan runs.</summary>
    public ConvPlan Nchw => ConvPlanner.Plan(Problem, Pass, Tier, PlanLayout.Nchw, Threads);

    /// <summary>The kernel's name with its tier, e.g. <c>gemm12x32 avx512</c>, <c>dx-few-channels avx2</c>, <c>depthwise-blocked8 avx512</c>, <c>direct-blocked16 avx512 14x2</c>.</summary>
    public string Name => Kernel switch
    {
        ConvKernel.DepthwiseBlocked8 or ConvKernel.DepthwiseRows => DepthwiseKernels.KernelName(Kernel, ConvPlanner.DepthwiseVector(Tier)) + " " + IsaTiers.Name(Tier),
        ConvKernel.FewChannelsBackwardData => BackwardDataFewChannels.Name + " " + IsaTiers.Name(Tier),
        ConvKernel.DirectBlocked => Executor.Name(Pass),
        ConvKernel.FirstLayer => Executor.FlatName(Pass),
        ConvKernel.ThroughNchw => Nchw.Name,
        _ => ConvPlanner.GemmName(Tier),
    };

    /// <summary>The scratch memory (bytes) one run uses (on blocked tensors, without the activations themselves).</summary>
    public long WorkspaceBytes => Kernel switch
    {
        ConvKernel.DepthwiseBlocked8 or ConvKernel.DepthwiseRows => DepthwiseKernels.WorkspaceBytes(Problem, Pass, Kernel, Threads, ConvPlanner.DepthwiseVector(Tier)),
        ConvKernel.FewChannelsBackwardData => BackwardDataFewChannels.WorkspaceBytes(Problem, Parts),
        ConvKernel.DirectBlocked or ConvKernel.FirstLayer when Layout == PlanLayout.Nchw => BlockedNchw.WorkspaceBytes(Problem, Pass, BlockSize, Threads, Kernel == ConvKernel.FirstLayer) +
            (Kernel == ConvKernel.DirectBlocked ? BlockedNchw.PaddedCopyBytes(Problem, Pass, BlockSize) : 0),
        ConvKernel.DirectBlocked or ConvKernel.FirstLayer => BlockedNchw.KernelWorkspaceBytes(Problem, Pass, BlockSize, Threads, Kernel == ConvKernel.FirstLayer),
        ConvKernel.ThroughNchw => Nchw.WorkspaceBytes,
        _ => ConvPlanner.GemmTile(Tier) switch
        {
            GemmTileKind.Tile12x32Avx512 => GemmWorkspaceBytes<Avx512Tile>(),
            GemmTileKind.Tile6x16Avx2 => GemmWorkspaceBytes<Tile6x16Avx2>(),
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
        if (Layout != PlanLayout.Nchw)
        {
            throw new InvalidOperationException($"a plan for the {Layout} layout runs on blocked tensors, not NCHW spans (internal error)");
        }
        if (Kernel is ConvKernel.DepthwiseBlocked8 or ConvKernel.DepthwiseRows)
        {
            bool vector = ConvPlanner.DepthwiseVector(Tier);
            switch (Pass)
            {
                case ConvPass.Forward:
                    DepthwiseKernels.Forward(Problem, a, b, bias, output, Threads, Kernel, vector, Tier);
                    break;
                case ConvPass.BackwardData:
                    DepthwiseKernels.BackwardData(Problem, a, b, output, Threads, Kernel, vector, Tier);
                    break;
                default:
                    DepthwiseKernels.BackwardWeight(Problem, a, b, output, Threads, Kernel, vector, Tier);
                    break;
            }
            return;
        }
        fixed (float* pa = a, pb = b, pbias = bias, po = output)
        {
            switch (Kernel)
            {
                case ConvKernel.DirectBlocked or ConvKernel.FirstLayer:
                    BlockedNchw.Run(Executor, Pass, Kernel == ConvKernel.FirstLayer, Threads, pa, pb, bias, po);
                    break;
                case ConvKernel.FewChannelsBackwardData:
                    KernelRecord.Ran(BackwardDataFewChannels.Name, Tier);
                    RunParts(pa, pb, pbias, po);
                    break;
                default:
                    RunParts(pa, pb, pbias, po);
                    break;
            }
        }
    }

    private void RunParts(float* pa, float* pb, float* pbias, float* po)
    {
        if (Parts <= 1)
        {
            RunPart(pa, pb, pbias, po, 0, 1);
        }
        else
        {
            WorkerPool.Run(new PartsWork(this, pa, pb, pbias, po), Parts);
        }
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/> of a GEMM or few-channel plan (what each worker runs): its
    /// static share of the output tiles. Every element belongs to one part and gets the same summation whatever the split.
    /// </summary>
    public void RunPart(float* a, float* b, float* bias, float* output, int part, int parts)
    {
        if (Kernel is not (ConvKernel.Gemm or ConvKernel.FewChannelsBackwardData))
        {
            throw new InvalidOperationException("depthwise and blocked plans split their own work (internal error)");
        }
        if (Kernel == ConvKernel.FewChannelsBackwardData)
        {
            BackwardDataFewChannels.Run(Problem, a, b, output, part, parts);
            return;
        }
        switch (ConvPlanner.GemmTile(Tier))
        {
            case GemmTileKind.Tile12x32Avx512:
                RunGemm<Avx512Tile>(a, b, bias, output, part, parts);
                break;
            case GemmTileKind.Tile6x16Avx2:
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
        if (Kernel is ConvKernel.DepthwiseBlocked8 or ConvKernel.DepthwiseRows)
        {
            return DepthwiseKernels.Describe(p, pass, Kernel, ConvPlanner.DepthwiseVector(Tier));
        }
        if (Kernel == ConvKernel.ThroughNchw)
        {
            return $"The blocked kernels do not cover this grouping on {IsaTiers.Name(Tier)}, so the blocked tensors are converted to NCHW and back around the NCHW plan. {Nchw.DescribeKernel()}";
        }
        if (Layout != PlanLayout.Nchw)
        {
            return Kernel == ConvKernel.FirstLayer ? Executor.FlatDescribe(pass) : Executor.Describe(pass);
        }
        if (Kernel is ConvKernel.DirectBlocked or ConvKernel.FirstLayer)
        {
            int block = BlockSize;
            bool firstLayer = Kernel == ConvKernel.FirstLayer;
            string converted = pass == ConvPass.BackwardWeight ? "x and dY are converted" : pass == ConvPass.Forward ? "x is converted in and y out" : "dY is converted in and dX out";
            if (firstLayer)
            {
                return $"With {p.C} input channel(s) (a first layer) the GEMM would reduce over only {p.C * p.KerSpatial} rows per column, so the fast engine computes dW with the first-layer kernel, which reads x as it is and dY in the channel-blocked layout. " +
                       (BlockedNchw.GathersRows(p, pass, block)
                           ? $"Inside this NCHW call dY (over {BlockedNchw.RowGatherBytes >> 20} MiB blocked) is gathered into that layout one output row at a time, per thread ({BlockedNchw.WorkspaceBytes(p, pass, block, Threads, firstLayer)} bytes of workspace), and the gathers count in the call's time. "
                           : $"Inside this NCHW call dY is converted into that layout in a per-thread workspace ({BlockedNchw.WorkspaceBytes(p, pass, block, Threads, firstLayer)} bytes, at most {BlockedNchw.MaxWorkspaceBytes >> 20} MiB, else the GEMM runs), and the conversion counts in the call's time. ") +
                       (firstLayer ? Executor.FlatDescribe(pass) : Executor.Describe(pass));
            }
            return $"With {p.Cg} input channels per group (at least half a {block}-channel block) the fast engine uses the direct kernels on the channel-blocked layout rather than the GEMM: they ran up to 2-4x faster on the suite's 3x3 layers, conversions included; depthwise and 1x1 layers stay on their NCHW kernels because there the conversions cost more than the blocked kernel saves. " +
                   $"Inside this NCHW call {converted} of the blocked layout in a per-thread workspace ({BlockedNchw.WorkspaceBytes(p, pass, block, Threads, firstLayer)} bytes, at most {BlockedNchw.MaxWorkspaceBytes >> 20} MiB, else the GEMM runs), and the conversions count in the call's time. " +
                   (firstLayer ? Executor.FlatDescribe(pass) : Executor.Describe(pass));
        }
        string kernel = Tier switch
        {
            IsaTier.Avx512 => $"a {Avx512Tile.MR}x{Avx512Tile.NR} AVX-512 micro-kernel ({ConvPlanner.GemmName(Tier)}: {Avx512Tile.MR * Avx512Tile.NR / 16} zmm accumulators)",
            IsaTier.Avx2 => $"a 6x16 AVX2/FMA micro-kernel ({ConvPlanner.GemmName(Tier)})",
            _ => $"a portable 6x8 Vector128 micro-kernel ({ConvPlanner.GemmName(Tier)}; no AVX2/FMA intrinsics)",
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
