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
            ConvPass.BackwardData => BackwardDataByPhases.WorkspaceBytes(p, parts),
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
                bool direct = p.KerSpatial == 1 && p.UnitStride && p.Pad.All(v => v == 0);
                string b = direct
                    ? "This is a 1x1 convolution with stride 1 and no padding, so the im2col matrix is X itself and the GEMM reads it in place, with no copy."
                    : "The im2col matrix is never built: the packer gathers one 256-deep panel of it at a time straight from X through the geometry, writing zeros where a window overlaps the padding.";
                return $"The fast engine computes the forward pass as an implicit-im2col GEMM per image and group: Y[{p.Kg} x {p.OutSpatial}] = W[{p.Kg} x {p.Cg * p.KerSpatial}] · im2col(X), " +
                       $"blocked BLIS-style around {kernel}. {b} The bias starts each sum.{groups}";
            }
            case ConvPass.BackwardData:
            {
                var (phases, empty, min, max) = BackwardDataByPhases.PhaseSummary(p);
                string how = p.UnitStride
                    ? "With stride 1 there is a single phase: a stride-1 correlation of dY with the channel-transposed weight, each tap reading dY at its own offset, zero outside dY."
                    : $"The stride splits dX into {phases} phases (input positions with the same remainder modulo the stride); each phase is a stride-1 correlation of dY with only the kernel taps that reach it ({min} to {max} taps), so the zeros a zero-inserted dY would hold are never built and never multiplied." +
                      (empty > 0 ? $" {empty} phase(s) receive no tap at all and are written with exact zeros." : "");
                return $"The fast engine computes backward-data by stride phases, one GEMM per image, group and phase: dX_phase[{p.Cg} x pixels] = Wᵀ_taps · dY windows, around {kernel}. {how} " +
                       $"Every dX element is written by exactly one tile, so nothing is pre-filled or accumulated twice.{groups}";
            }
            default:
                return $"The fast engine computes backward-weight as one GEMM per group, dW[{p.Kg} x {p.Cg * p.KerSpatial}] = dY[{p.Kg} x {(long)p.N * p.OutSpatial}] · im2col(X)ᵀ, reducing over batch and output positions in 256-deep blocks " +
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
                    ForwardGemm.Run(p, a, b, bias, output, part, parts);
                    break;
                case ConvPass.BackwardData:
                    BackwardDataByPhases.Run(p, a, b, output, part, parts);
                    break;
                default:
                    BackwardWeightGemm.Run(p, a, b, output, part, parts);
                    break;
            }
        }
    }

    private sealed class PassWorkBox(PassWork work) : IPartitionedWork
    {
        public void Run(int part, int parts) => work.Run(part, parts);
    }
}
