using ILGPU;
using ILGPU.Runtime;
using static ConvGrad.Gpu.Kernels.GemmTile;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// Backward-weight as an implicit GEMM with deterministic parallel split-K (CUTLASS Wgrad, <c>SplitKMode::kParallel</c>),
/// one GEMM per group g:
/// <code>
/// dw[g·Kg + m, c, r] = Σ_{b &lt; N} Σ_{o} dy[b, g·Kg + m, o] · x[b, g·Cg + c, o·s + r·d − p]
/// M = Kg (rows m),  N = Cg·R·S·T (columns (c, r)),  K = N·out (reduction (b, o))
/// </code>
/// The reduction is cut into <c>slices</c> fixed ranges of <c>chunk</c> indices (a pure function of the shape,
/// chosen by the host); slice s writes its partial sums to <c>partial[s]</c> (shaped like dw), and
/// <see cref="ReduceSlices"/> adds the slices in slice order. With one slice the kernel writes dw directly. No float
/// atomics anywhere, so every dw element has the same summation tree on every run.
/// Grid (⌈Kg/BM⌉, ⌈Cg·RST/BN⌉, G·slices), group <see cref="GemmTile.Threads"/>.
/// </summary>
internal static class BackwardWeightSplitK
{
    public static void Kernel(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> partial, ConvDims d, SpecializedValue<Window> window, int chunk)
    {
        var win = window.Value;
        int ks = win.KerSpatial;
        int slice = Grid.IdxZ / d.Groups;
        int g = Grid.IdxZ - slice * d.Groups;
        int total = d.N * d.OutSpatial;
        int kBegin = slice * chunk;
        int kEnd = total - kBegin < chunk ? total : kBegin + chunk;
        int cols = d.Cg * ks;
        int m0 = Grid.IdxX * BM, n0 = Grid.IdxY * BN;
        int tid = Group.IdxX;
        int tx = tid % Lanes, ty = tid / Lanes;
        var As = SharedMemory.Allocate<float>(BK * BM);
        var Bs = SharedMemory.Allocate<float>(BK * BN);

        // A loader (dy rows): reduction index tid % BK (contiguous in dy), rows tid / BK and + 32.
        int aK = tid % BK, aM = tid / BK;
        bool aValid0 = m0 + aM < d.Kg, aValid1 = m0 + aM + 32 < d.Kg;
        int dyCh0 = g * d.Kg + m0 + aM;

        // B loader (x columns (c, r)): column n0 + tid % BN, reduction offsets tid / BN and + 4.
        int bCol = tid % BN, bK = tid / BN;
        int bn = n0 + bCol;
        bool bValid = bn < cols;
        int xChan = 0, r0d = 0, r1d = 0, r2d = 0;
        if (bValid)
        {
            int c = bn / ks;
            int r = bn - c * ks;
            int kerPlane = win.Ker1 * win.Ker2;
            int r0 = r / kerPlane;
            int rr = r - r0 * kerPlane;
            int r1 = rr / win.Ker2;
            int r2 = rr - r1 * win.Ker2;
            xChan = g * d.Cg + c;
            r0d = r0 * win.Dil0 - d.Pad0;
            r1d = r1 * win.Dil1 - d.Pad1;
            r2d = r2 * win.Dil2 - d.Pad2;
        }
        int outPlane = d.Out1 * d.Out2;

        var acc = default(Acc4x4);
        for (int k0 = kBegin; k0 < kEnd; k0 += BK)
        {
            int ka = k0 + aK;
            float va0 = 0f, va1 = 0f;
            if (ka < kEnd)
            {
                int b = ka / d.OutSpatial;
                int o = ka - b * d.OutSpatial;
                int row = (b * d.K + dyCh0) * d.OutSpatial + o;
                va0 = aValid0 ? dy[row] : 0f;
                va1 = aValid1 ? dy[row + 32 * d.OutSpatial] : 0f;
            }
            As[aK * BM + aM] = va0;
            As[aK * BM + aM + 32] = va1;

            for (int h = 0; h < 2; h++)
            {
                int kb = k0 + bK + 4 * h;
                float vb = 0f;
                if (bValid && kb < kEnd)
                {
                    int b = kb / d.OutSpatial;
                    int o = kb - b * d.OutSpatial;
                    int od = o / outPlane;
                    int rem = o - od * outPlane;
                    int oh = rem / d.Out2;
                    int ow = rem - oh * d.Out2;
                    int zi = od * win.Stride0 + r0d, yi = oh * win.Stride1 + r1d, xi = ow * win.Stride2 + r2d;
                    if ((uint)zi < (uint)d.In0 && (uint)yi < (uint)d.In1 && (uint)xi < (uint)d.In2)
                    {
                        vb = x[(b * d.C + xChan) * d.InSpatial + (zi * d.In1 + yi) * d.In2 + xi];
                    }
                }
                Bs[(bK + 4 * h) * BN + bCol] = vb;
            }
            Group.Barrier();
            MultiplyAccumulate(ref acc, As, Bs, ty, tx);
            Group.Barrier();
        }

        int sliceBase = slice * d.K * cols;
        for (int i = 0; i < 4; i++)
        {
            int m = m0 + ty + Lanes * i;
            if (m >= d.Kg)
            {
                continue;
            }
            for (int j = 0; j < 4; j++)
            {
                int n = n0 + tx + Lanes * j;
                if (n < cols)
                {
                    partial[sliceBase + (g * d.Kg + m) * cols + n] = acc.Get(i, j);
                }
            }
        }
    }

    /// <summary>dw[i] = Σ_{s &lt; slices} partial[s·len + i], added in slice order. One thread per dw element.</summary>
    public static void ReduceSlices(Index1D i, ArrayView<float> partial, ArrayView<float> dw, int len, int slices)
    {
        int e = i;
        float sum = partial[e];
        for (int s = 1; s < slices; s++)
        {
            sum += partial[s * len + e];
        }
        dw[e] = sum;
    }
}
