using ILGPU;
using ILGPU.Runtime;
using static ConvGrad.Gpu.Kernels.GemmTile;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// Backward-data split by filter phase (CUTLASS strided dgrad, XNNPACK subconvolution): write each input index as
/// <c>i = ρ + t·s</c> with phase <c>ρ ∈ [0, s)</c> per axis. The taps that reach phase ρ are
/// <c>T(ρ) = {r : (ρ + p − r·d) mod s = 0}</c>, and for them <c>o = t + (ρ + p − r·d)/s</c>, so per group g and phase ρ
/// <code>
/// dx[b, g·Cg + c, ρ + t·s] = Σ_{kk &lt; Kg} Σ_{r ∈ T(ρ)} dy[b, g·Kg + kk, t + (ρ + p − r·d)/s] · w[g·Kg + kk, c, r]
/// M = N·|t| (rows (b, t)),  N = Cg (columns c),  K = Kg·|T(ρ)| (reduction (kk, tap))
/// </code>
/// is a stride-1 implicit GEMM over the sub-kernel: no zero-inserted dy, and every dx element belongs to exactly
/// one (phase, tile, thread), so it is written once, with no pre-fill and no atomics. A phase without taps has an
/// empty reduction and stores zeros; rows whose taps all fall outside dy load zeros and store zeros. Stride 1 is the
/// single phase ρ = 0. Grid (⌈max_ρ M/BM⌉, ⌈Cg/BN⌉, G·phases), group <see cref="GemmTile.Threads"/>.
/// </summary>
internal static class BackwardDataByPhases
{
    public static void Kernel(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvDims d, SpecializedValue<Window> window)
    {
        var win = window.Value;
        int ks = win.KerSpatial;
        int phases = win.Phases;
        int g = Grid.IdxZ / phases;
        int ph = Grid.IdxZ - g * phases;
        int rho2 = ph % win.Stride2;
        int rho1 = ph / win.Stride2 % win.Stride1;
        int rho0 = ph / (win.Stride1 * win.Stride2);
        var a0 = PhaseAxis.Of(rho0, d.In0, d.Pad0, win.Ker0, win.Stride0, win.Dil0);
        var a1 = PhaseAxis.Of(rho1, d.In1, d.Pad1, win.Ker1, win.Stride1, win.Dil1);
        var a2 = PhaseAxis.Of(rho2, d.In2, d.Pad2, win.Ker2, win.Stride2, win.Dil2);
        int tPlane = a1.Rows * a2.Rows;
        int tCount = a0.Rows * tPlane;
        int rows = d.N * tCount;
        int m0 = Grid.IdxX * BM, n0 = Grid.IdxY * BN;
        if (m0 >= rows)
        {
            return; // the whole CTA leaves before any barrier: this phase has fewer rows than the largest one
        }
        int tapPlane = a1.Taps * a2.Taps;
        int taps = a0.Taps * tapPlane;
        int reduction = d.Kg * taps;
        int tid = Group.IdxX;
        int tx = tid % Lanes, ty = tid / Lanes;
        var As = SharedMemory.Allocate<float>(BK * BM);
        var Bs = SharedMemory.Allocate<float>(BK * BN);

        // A loader: row (b, t) = m0 + tid % BM, reduction offsets tid / BM and + 4.
        int aCol = tid % BM, aK = tid / BM;
        int am = m0 + aCol;
        bool aValid = am < rows;
        int t0 = 0, t1 = 0, t2 = 0, dyBase = 0;
        if (aValid)
        {
            int b = am / tCount;
            int t = am - b * tCount;
            t0 = t / tPlane;
            int rem = t - t0 * tPlane;
            t1 = rem / a2.Rows;
            t2 = rem - t1 * a2.Rows;
            dyBase = (b * d.K + g * d.Kg) * d.OutSpatial;
        }

        // B loader: column c = n0 + tid % BN, reduction offsets tid / BN and + 4.
        int bCol = tid % BN, bK = tid / BN;
        int bc = n0 + bCol;
        bool bValid = bc < d.Cg;

        var acc = default(Acc4x4);
        for (int k0 = 0; k0 < reduction; k0 += BK)
        {
            for (int h = 0; h < 2; h++)
            {
                int ka = k0 + aK + 4 * h;
                float va = 0f;
                if (aValid && ka < reduction)
                {
                    int kk = ka / taps;
                    int j = ka - kk * taps;
                    int j0 = j / tapPlane;
                    int jr = j - j0 * tapPlane;
                    int j1 = jr / a2.Taps;
                    int j2 = jr - j1 * a2.Taps;
                    int o0 = t0 + a0.Offset - j0 * a0.OffsetStep;
                    int o1 = t1 + a1.Offset - j1 * a1.OffsetStep;
                    int o2 = t2 + a2.Offset - j2 * a2.OffsetStep;
                    if ((uint)o0 < (uint)d.Out0 && (uint)o1 < (uint)d.Out1 && (uint)o2 < (uint)d.Out2)
                    {
                        va = dy[dyBase + kk * d.OutSpatial + (o0 * d.Out1 + o1) * d.Out2 + o2];
                    }
                }
                As[(aK + 4 * h) * BM + aCol] = va;

                int kb = k0 + bK + 4 * h;
                float vb = 0f;
                if (bValid && kb < reduction)
                {
                    int kk = kb / taps;
                    int j = kb - kk * taps;
                    int j0 = j / tapPlane;
                    int jr = j - j0 * tapPlane;
                    int j1 = jr / a2.Taps;
                    int j2 = jr - j1 * a2.Taps;
                    int r0 = a0.First + j0 * a0.TapStep;
                    int r1 = a1.First + j1 * a1.TapStep;
                    int r2 = a2.First + j2 * a2.TapStep;
                    vb = w[((g * d.Kg + kk) * d.Cg + bc) * ks + (r0 * win.Ker1 + r1) * win.Ker2 + r2];
                }
                Bs[(bK + 4 * h) * BN + bCol] = vb;
            }
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
            int b = m / tCount;
            int t = m - b * tCount;
            int u0 = t / tPlane;
            int rem = t - u0 * tPlane;
            int u1 = rem / a2.Rows;
            int u2 = rem - u1 * a2.Rows;
            int i0 = rho0 + u0 * win.Stride0, i1 = rho1 + u1 * win.Stride1, i2 = rho2 + u2 * win.Stride2;
            int spatial = (i0 * d.In1 + i1) * d.In2 + i2;
            for (int j = 0; j < 4; j++)
            {
                int c = n0 + tx + Lanes * j;
                if (c < d.Cg)
                {
                    dx[(b * d.C + g * d.Cg + c) * d.InSpatial + spatial] = acc.Get(i, j);
                }
            }
        }
    }
}

/// <summary>
/// One axis of one filter phase ρ: the input positions <c>ρ + t·s</c> (<see cref="Rows"/> of them), and the taps
/// <c>r = First + j·TapStep</c> (<see cref="Taps"/> of them) with <c>(ρ + p − r·d) mod s = 0</c>, which read
/// <c>dy[t + Offset − j·OffsetStep]</c>.
/// </summary>
internal struct PhaseAxis
{
    public int Rows, Taps, First, TapStep, Offset, OffsetStep;

    public static PhaseAxis Of(int rho, int inSize, int pad, int ker, int stride, int dil)
    {
        var a = default(PhaseAxis);
        a.Rows = rho < inSize ? (inSize - rho + stride - 1) / stride : 0;
        a.First = -1;
        for (int r = 0; r < ker; r++)
        {
            int num = rho + pad - r * dil;
            if (num % stride == 0)
            {
                a.First = r;
                break;
            }
        }
        if (a.First < 0)
        {
            a.TapStep = 1;
            return a; // no tap reaches this phase: Taps = 0
        }
        // Consecutive taps of one phase differ by the smallest step with step·d ≡ 0 (mod s): s / gcd(s, d).
        int x = stride, y = dil;
        while (y != 0)
        {
            int t = x % y;
            x = y;
            y = t;
        }
        a.TapStep = stride / x;
        a.Taps = (ker - 1 - a.First) / a.TapStep + 1;
        a.Offset = (rho + pad - a.First * dil) / stride;
        a.OffsetStep = a.TapStep * dil / stride;
        return a;
    }
}
