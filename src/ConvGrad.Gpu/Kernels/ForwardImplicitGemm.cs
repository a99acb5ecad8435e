using ILGPU;
using ILGPU.Runtime;
using static ConvGrad.Gpu.Kernels.GemmTile;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// Forward pass as an implicit GEMM (CUTLASS Fprop), one GEMM per group g:
/// <code>
/// y[b, g·Kg + n, o] = bias[g·Kg + n] + Σ_{c &lt; Cg} Σ_{r &lt; R·S·T} x[b, g·Cg + c, o·s + r·d − p] · w[g·Kg + n, c, r]
/// M = N·out (rows (b, o)),  N = Kg (columns n),  K = Cg·R·S·T (reduction (c, r))
/// </code>
/// A is gathered from x on the fly (zero outside the input: the padding is never materialised), B is the weight
/// read as the row-major matrix <c>[Kg, Cg·RST]</c>. Each thread decomposes its A row (b, o) once, before the main
/// loop. Grid (⌈M/BM⌉, ⌈Kg/BN⌉, G), group <see cref="GemmTile.Threads"/>.
/// </summary>
internal static class ForwardImplicitGemm
{
    public static void Kernel(
        ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ConvDims d, SpecializedValue<Window> window, int hasBias)
    {
        var win = window.Value;
        int ks = win.KerSpatial;
        int g = Grid.IdxZ;
        int tid = Group.IdxX;
        int tx = tid % Lanes, ty = tid / Lanes;
        int m0 = Grid.IdxX * BM, n0 = Grid.IdxY * BN;
        int rows = d.N * d.OutSpatial;
        int reduction = d.Cg * ks;
        var As = SharedMemory.Allocate<float>(BK * BM);
        var Bs = SharedMemory.Allocate<float>(BK * BN);

        // A loader: row m0 + tid % BM, reduction offsets tid / BM and tid / BM + 4.
        int aCol = tid % BM, aK = tid / BM;
        int am = m0 + aCol;
        bool aValid = am < rows;
        int z0 = 0, y0 = 0, x0 = 0, xBase = 0;
        if (aValid)
        {
            int b = am / d.OutSpatial;
            int o = am - b * d.OutSpatial;
            int plane = d.Out1 * d.Out2;
            int od = o / plane;
            int rem = o - od * plane;
            int oh = rem / d.Out2;
            int ow = rem - oh * d.Out2;
            z0 = od * win.Stride0 - d.Pad0;
            y0 = oh * win.Stride1 - d.Pad1;
            x0 = ow * win.Stride2 - d.Pad2;
            xBase = (b * d.C + g * d.Cg) * d.InSpatial;
        }

        // B loader: reduction index tid % BK (contiguous in w), columns tid / BK and tid / BK + 32.
        int bK = tid % BK, bN = tid / BK;
        int wRow0 = (g * d.Kg + n0 + bN) * reduction;
        int wRow1 = wRow0 + 32 * reduction;
        bool bValid0 = n0 + bN < d.Kg, bValid1 = n0 + bN + 32 < d.Kg;

        var acc = default(Acc4x4);
        for (int k0 = 0; k0 < reduction; k0 += BK)
        {
            As[aK * BM + aCol] = aValid ? LoadX(x, d, win, xBase, z0, y0, x0, k0 + aK, reduction, ks) : 0f;
            As[(aK + 4) * BM + aCol] = aValid ? LoadX(x, d, win, xBase, z0, y0, x0, k0 + aK + 4, reduction, ks) : 0f;
            int k = k0 + bK;
            Bs[bK * BN + bN] = bValid0 && k < reduction ? w[wRow0 + k] : 0f;
            Bs[bK * BN + bN + 32] = bValid1 && k < reduction ? w[wRow1 + k] : 0f;
            Group.Barrier();
            MultiplyAccumulate(ref acc, As, Bs, ty, tx);
            Group.Barrier();
        }

        for (int i = 0; i < 4; i++)
        {
            int m = m0 + ty + Lanes * i;
            if (m >= rows)
            {
                continue;
            }
            int b = m / d.OutSpatial;
            int o = m - b * d.OutSpatial;
            for (int j = 0; j < 4; j++)
            {
                int n = n0 + tx + Lanes * j;
                if (n < d.Kg)
                {
                    int ch = g * d.Kg + n;
                    float v = acc.Get(i, j);
                    y[(b * d.K + ch) * d.OutSpatial + o] = hasBias != 0 ? v + bias[ch] : v;
                }
            }
        }
    }

    /// <summary>A[(b, o), k = (c, r)] = x[b, g·Cg + c, o·s + r·d − p], zero in the padding and past the reduction.</summary>
    private static float LoadX(ArrayView<float> x, ConvDims d, Window win, int xBase, int z0, int y0, int x0, int k, int reduction, int ks)
    {
        if (k >= reduction)
        {
            return 0f;
        }
        int c = k / ks;
        int r = k - c * ks;
        int kerPlane = win.Ker1 * win.Ker2;
        int r0 = r / kerPlane;
        int rr = r - r0 * kerPlane;
        int r1 = rr / win.Ker2;
        int r2 = rr - r1 * win.Ker2;
        int zi = z0 + r0 * win.Dil0, yi = y0 + r1 * win.Dil1, xi = x0 + r2 * win.Dil2;
        if ((uint)zi >= (uint)d.In0 || (uint)yi >= (uint)d.In1 || (uint)xi >= (uint)d.In2)
        {
            return 0f;
        }
        return x[xBase + c * d.InSpatial + (zi * d.In1 + yi) * d.In2 + xi];
    }
}
