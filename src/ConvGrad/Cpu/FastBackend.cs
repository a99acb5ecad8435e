using ConvGrad.Cpu.Depthwise;
using ConvGrad.Cpu.Gemm;
using Avx512Tile = ConvGrad.Cpu.Gemm.Tile12x32Avx512;

namespace ConvGrad.Cpu;

/// <summary>
/// The fast CPU engine on one ISA tier: every pass is a blocked SGEMM (<see cref="GemmDriver{TK}"/> around the tier's
/// register tile: <see cref="Tile12x32Avx512"/>, <see cref="Tile6x16Avx2"/> or <see cref="Tile6x8Portable"/>) whose
/// packers read the tensors through the convolution geometry, so no im2col matrix and no zero-inserted dY is ever built.
/// One entry point per pass picks the kernel from the geometry; work is split statically over the persistent
/// <see cref="WorkerPool"/> by output tiles, so results are bitwise the same for any thread count within a tier.
/// </summary>
internal sealed unsafe class FastBackend : IConvBackend
{
    private static readonly FastBackend[] s_byTier = [new(IsaTier.Portable), new(IsaTier.Avx2), new(IsaTier.Avx512)];

    private FastBackend(IsaTier tier) => Tier = tier;

    /// <summary>The engine on the widest tier of this process.</summary>
    public static FastBackend Instance => For(IsaTiers.Best);

    /// <summary>The engine on tier <paramref name="tier"/> (which the caller has checked this process supports: <see cref="IsaTiers.Resolve"/>).</summary>
    public static FastBackend For(IsaTier tier) => s_byTier[(int)tier];

    /// <summary>The instruction-set tier every kernel of this instance runs on.</summary>
    public IsaTier Tier { get; }

    /// <summary>The GEMM tile of a tier, as bench and explain name it (e.g. <c>gemm12x32 avx512</c>).</summary>
    public static string GemmKernelName(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => Avx512Tile.Name,
        IsaTier.Avx2 => Tile6x16Avx2.Name,
        _ => Tile6x8Portable.Name,
    };

    /// <summary>The name of the kernel that computes <paramref name="pass"/> of <paramref name="p"/> on this tier.</summary>
    public string KernelName(ConvProblem p, ConvPass pass)
    {
        string tier = IsaTiers.Name(Tier);
        if (UsesDepthwiseKernels(p))
        {
            return DepthwiseKernels.KernelName(p, pass, DepthwiseVector(Tier)) + " " + tier;
        }
        if (pass == ConvPass.BackwardData && UsesFewChannelsDx(p, Tier))
        {
            return "dx-few-channels " + tier;
        }
        return GemmKernelName(Tier);
    }

    /// <summary>Whether the depthwise kernels take their Vector256 + FMA paths on <paramref name="tier"/> (AVX2 and up), else the scalar ones.</summary>
    internal static bool DepthwiseVector(IsaTier tier) => tier >= IsaTier.Avx2 && DepthwiseKernels.VectorPath;

    /// <summary>
    /// Whether backward-data takes the direct few-channel kernel (its Vector256 FMAs need AVX2); on the portable tier
    /// those problems take the phase GEMM.
    /// </summary>
    internal static bool UsesFewChannelsDx(ConvProblem p, IsaTier tier) => tier >= IsaTier.Avx2 && BackwardDataFewChannels.Applies(p);

    /// <summary>
    /// Problems with one input channel per group and more than one group (depthwise, with or without a channel
    /// multiplier) go to the direct depthwise kernels: as a GEMM they would have a single-row reduction per tap.
    /// </summary>
    public static bool UsesDepthwiseKernels(ConvProblem p) => p.Groups > 1 && DepthwiseKernels.Applies(p);

    public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.Forward(p, x, w, b, y, threads, DepthwiseVector(Tier));
            return;
        }
        fixed (float* px = x, pw = w, pb = b, py = y)
        {
            Execute(new PassWork(Tier, ConvPass.Forward, p, px, pw, pb, py), TileSplit.Parts(p, threads));
        }
    }

    public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.BackwardData(p, dy, w, dx, threads, DepthwiseVector(Tier));
            return;
        }
        fixed (float* pdy = dy, pw = w, pdx = dx)
        {
            Execute(new PassWork(Tier, ConvPass.BackwardData, p, pdy, pw, null, pdx), TileSplit.Parts(p, threads));
        }
    }

    public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.BackwardWeight(p, x, dy, dw, threads, DepthwiseVector(Tier));
            return;
        }
        fixed (float* px = x, pdy = dy, pdw = dw)
        {
            Execute(new PassWork(Tier, ConvPass.BackwardWeight, p, px, pdy, null, pdw), TileSplit.Parts(p, threads));
        }
    }

    public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            return DepthwiseKernels.WorkspaceBytes(p, pass, threads, DepthwiseVector(Tier));
        }
        int parts = TileSplit.Parts(p, threads);
        if (pass == ConvPass.BackwardData && UsesFewChannelsDx(p, Tier))
        {
            return BackwardDataFewChannels.WorkspaceBytes(p, parts);
        }
        return Tier switch
        {
            IsaTier.Avx512 => GemmWorkspaceBytes<Avx512Tile>(p, pass, parts),
            IsaTier.Avx2 => GemmWorkspaceBytes<Tile6x16Avx2>(p, pass, parts),
            _ => GemmWorkspaceBytes<Tile6x8Portable>(p, pass, parts),
        };
    }

    private static long GemmWorkspaceBytes<TK>(ConvProblem p, ConvPass pass, int parts) where TK : struct, IGemmTile => pass switch
    {
        ConvPass.Forward => ForwardGemm.WorkspaceBytes<TK>(p, parts),
        ConvPass.BackwardData => BackwardDataByPhases.WorkspaceBytes<TK>(p, parts),
        _ => BackwardWeightGemm.WorkspaceBytes<TK>(p, parts),
    };

    public string Describe(ConvProblem p, ConvPass pass)
    {
        if (UsesDepthwiseKernels(p))
        {
            return DepthwiseKernels.Describe(p, pass, DepthwiseVector(Tier));
        }
        string kernel = Tier switch
        {
            IsaTier.Avx512 => $"a {Avx512Tile.MR}x{Avx512Tile.NR} AVX-512 micro-kernel ({GemmKernelName(Tier)}: {Avx512Tile.MR * Avx512Tile.NR / 16} zmm accumulators)",
            IsaTier.Avx2 => $"a 6x16 AVX2/FMA micro-kernel ({GemmKernelName(Tier)})",
            _ => $"a portable 6x8 Vector128 micro-kernel ({GemmKernelName(Tier)}; no AVX2/FMA intrinsics)",
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
                if (UsesFewChannelsDx(p, Tier))
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

    private static void Execute(PassWork work, int parts)
    {
        if (parts <= 1)
        {
            work.Run(0, 1);
        }
        else
        {
            WorkerPool.Run(new PassWorkBox(work), parts);
        }
    }

    /// <summary>One call's pass and pinned pointers; part <c>i</c> computes its static share of the output tiles.</summary>
    private readonly struct PassWork(IsaTier tier, ConvPass pass, ConvProblem p, float* a, float* b, float* bias, float* output)
    {
        public void Run(int part, int parts)
        {
            switch (pass)
            {
                case ConvPass.Forward:
                    ForwardPart(tier, p, a, b, bias, output, part, parts);
                    break;
                case ConvPass.BackwardData:
                    BackwardDataPart(tier, p, a, b, output, part, parts);
                    break;
                default:
                    BackwardWeightPart(tier, p, a, b, output, part, parts);
                    break;
            }
        }
    }

    /// <summary>
    /// Forward, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for forward kernels.
    /// Depthwise problems never get here (<see cref="UsesDepthwiseKernels"/>); everything else takes the implicit-im2col GEMM.
    /// </summary>
    internal static void ForwardPart(IsaTier tier, ConvProblem p, float* x, float* w, float* b, float* y, int part, int parts)
    {
        switch (tier)
        {
            case IsaTier.Avx512:
                ForwardGemm.Run<Avx512Tile>(p, x, w, b, y, part, parts);
                break;
            case IsaTier.Avx2:
                ForwardGemm.Run<Tile6x16Avx2>(p, x, w, b, y, part, parts);
                break;
            default:
                ForwardGemm.Run<Tile6x8Portable>(p, x, w, b, y, part, parts);
                break;
        }
    }

    /// <summary>
    /// Backward-data, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for dX kernels.
    /// Groups with at most three input channels (first layers such as MNIST or the RGB stem) take the
    /// direct phase kernel; everything else the phase GEMM.
    /// </summary>
    internal static void BackwardDataPart(IsaTier tier, ConvProblem p, float* dy, float* w, float* dx, int part, int parts)
    {
        if (UsesFewChannelsDx(p, tier))
        {
            BackwardDataFewChannels.Run(p, dy, w, dx, part, parts);
            return;
        }
        switch (tier)
        {
            case IsaTier.Avx512:
                BackwardDataByPhases.Run<Avx512Tile>(p, dy, w, dx, part, parts);
                break;
            case IsaTier.Avx2:
                BackwardDataByPhases.Run<Tile6x16Avx2>(p, dy, w, dx, part, parts);
                break;
            default:
                BackwardDataByPhases.Run<Tile6x8Portable>(p, dy, w, dx, part, parts);
                break;
        }
    }

    /// <summary>Backward-weight, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for dW kernels (depthwise never gets here: <see cref="UsesDepthwiseKernels"/>).</summary>
    internal static void BackwardWeightPart(IsaTier tier, ConvProblem p, float* x, float* dy, float* dw, int part, int parts)
    {
        switch (tier)
        {
            case IsaTier.Avx512:
                BackwardWeightGemm.Run<Avx512Tile>(p, x, dy, dw, part, parts);
                break;
            case IsaTier.Avx2:
                BackwardWeightGemm.Run<Tile6x16Avx2>(p, x, dy, dw, part, parts);
                break;
            default:
                BackwardWeightGemm.Run<Tile6x8Portable>(p, x, dy, dw, part, parts);
                break;
        }
    }

    private sealed class PassWorkBox(PassWork work) : IPartitionedWork
    {
        public void Run(int part, int parts) => work.Run(part, parts);
    }
}
