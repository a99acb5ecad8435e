using ConvGrad.Cpu.Depthwise;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu;

/// <summary>
/// The fast CPU engine: every pass is a blocked SGEMM (<see cref="GemmDriver"/> around the 6×16 FMA micro-kernel) whose
/// packers read the tensors through the convolution geometry, so no im2col matrix and no zero-inserted dY is ever built.
/// One entry point per pass picks the kernel from the geometry; work is split statically over the persistent
/// <see cref="WorkerPool"/> by output tiles, so results are bitwise the same for any thread count.
/// </summary>
internal sealed unsafe class FastBackend : IConvBackend
{
    public static FastBackend Instance { get; } = new();

    /// <summary>
    /// Problems with one input channel per group and more than one group (depthwise, with or without a channel
    /// multiplier) go to the direct depthwise kernels: as a GEMM they would have a single-row reduction per tap.
    /// </summary>
    public static bool UsesDepthwiseKernels(ConvProblem p) => p.Groups > 1 && DepthwiseKernels.Applies(p);

    public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.Forward(p, x, w, b, y, threads);
            return;
        }
        fixed (float* px = x, pw = w, pb = b, py = y)
        {
            Execute(new PassWork(ConvPass.Forward, p, px, pw, pb, py), TileSplit.Parts(p, threads));
        }
    }

    public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.BackwardData(p, dy, w, dx, threads);
            return;
        }
        fixed (float* pdy = dy, pw = w, pdx = dx)
        {
            Execute(new PassWork(ConvPass.BackwardData, p, pdy, pw, null, pdx), TileSplit.Parts(p, threads));
        }
    }

    public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            DepthwiseKernels.BackwardWeight(p, x, dy, dw, threads);
            return;
        }
        fixed (float* px = x, pdy = dy, pdw = dw)
        {
            Execute(new PassWork(ConvPass.BackwardWeight, p, px, pdy, null, pdw), TileSplit.Parts(p, threads));
        }
    }

    public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads)
    {
        if (UsesDepthwiseKernels(p))
        {
            return DepthwiseKernels.WorkspaceBytes(p, pass, threads);
        }
        int parts = TileSplit.Parts(p, threads);
        return pass switch
        {
            ConvPass.Forward => ForwardGemm.WorkspaceBytes(p, parts),
            ConvPass.BackwardData => BackwardDataFewChannels.Applies(p)
                ? BackwardDataFewChannels.WorkspaceBytes(p, parts)
                : BackwardDataByPhases.WorkspaceBytes(p, parts),
            _ => BackwardWeightGemm.WorkspaceBytes(p, parts),
        };
    }

    public string Describe(ConvProblem p, ConvPass pass)
    {
        if (UsesDepthwiseKernels(p))
        {
            return DepthwiseKernels.Describe(p, pass);
        }
        string kernel = MicroKernel6x16.FmaSupported ? "a 6x16 AVX2/FMA micro-kernel" : "a scalar 6x16 micro-kernel (no AVX2/FMA on this machine)";
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
                if (BackwardDataFewChannels.Applies(p))
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
    private readonly struct PassWork(ConvPass pass, ConvProblem p, float* a, float* b, float* bias, float* output)
    {
        public void Run(int part, int parts)
        {
            switch (pass)
            {
                case ConvPass.Forward:
                    ForwardPart(p, a, b, bias, output, part, parts);
                    break;
                case ConvPass.BackwardData:
                    BackwardDataPart(p, a, b, output, part, parts);
                    break;
                default:
                    BackwardWeightPart(p, a, b, output, part, parts);
                    break;
            }
        }
    }

    /// <summary>
    /// Forward, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for forward kernels.
    /// Depthwise problems never get here (<see cref="UsesDepthwiseKernels"/>); everything else takes the implicit-im2col GEMM.
    /// </summary>
    internal static void ForwardPart(ConvProblem p, float* x, float* w, float* b, float* y, int part, int parts) =>
        ForwardGemm.Run(p, x, w, b, y, part, parts);

    /// <summary>
    /// Backward-data, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for dX kernels.
    /// Groups with at most three input channels (first layers such as MNIST or the RGB stem) take the
    /// direct phase kernel; everything else the phase GEMM.
    /// </summary>
    internal static void BackwardDataPart(ConvProblem p, float* dy, float* w, float* dx, int part, int parts)
    {
        if (BackwardDataFewChannels.Applies(p))
        {
            BackwardDataFewChannels.Run(p, dy, w, dx, part, parts);
        }
        else
        {
            BackwardDataByPhases.Run(p, dy, w, dx, part, parts);
        }
    }

    /// <summary>Backward-weight, part <paramref name="part"/> of <paramref name="parts"/>: the dispatch point for dW kernels (depthwise never gets here: <see cref="UsesDepthwiseKernels"/>).</summary>
    internal static void BackwardWeightPart(ConvProblem p, float* x, float* dy, float* dw, int part, int parts) =>
        BackwardWeightGemm.Run(p, x, dy, dw, part, parts);

    private sealed class PassWorkBox(PassWork work) : IPartitionedWork
    {
        public void Run(int part, int parts) => work.Run(part, parts);
    }
}
