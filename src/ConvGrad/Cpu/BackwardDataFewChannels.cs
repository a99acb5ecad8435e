using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu;

/// <summary>
/// Backward-data for groups with at most <see cref="MaxChannels"/> input channels (the first layer of a network:
/// one grey or three colour channels; depthwise), where a GEMM with M = C_g would spend its time packing dY. The same
/// stride phases as <see cref="BackwardDataByPhases"/>, computed directly, one phase row at a time:
/// <code>
///   dX[n, c, ρ + t·s] = Σ_k∈g Σ_{r ∈ T(ρ)} W[k, c', r] · dY[n, k, t + off_r]     (0 outside dY)
/// </code>
/// vectorised along the row (t_w), with the valid (k, r) terms of the row listed once (rows of dY outside the
/// output are dropped from the list, never multiplied) and dY read in place. Each dX element is one sum in a fixed
/// (k, r) order, written once; rows are split statically among parts.
/// </summary>
internal static unsafe class BackwardDataFewChannels
{
    /// <summary>The most input channels per group this kernel takes.</summary>
    public const int MaxChannels = 3;

    public static bool Applies(ConvProblem p) => p.Cg <= MaxChannels;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ConvProblem p, float* dy, float* w, float* dx, int part, int parts)
    {
        var ws = GemmWorkspace.ForThisThread();
        int ks = p.KerSpatial, cg = p.Cg;
        int terms = p.Kg * ks;
        int axisScratch = 2 * (p.Ker[0] + p.Ker[1] + p.Ker[2]);
        ws.Ensure((nint)(4L * terms + 4L * p.In[2] + 64), 0, 4 * ks + axisScratch + 2 * terms);
        int* tapOff = ws.Ints, tapW = tapOff + 3 * ks, axis = tapW + ks, termSrc = axis + axisScratch, termCol = termSrc + terms;
        float* termW = ws.A, acc = ws.A + 4L * terms;
        var r0 = new Span<int>(axis, p.Ker[0]); var o0 = new Span<int>(axis + p.Ker[0], p.Ker[0]);
        int* a1 = axis + 2 * p.Ker[0];
        var r1 = new Span<int>(a1, p.Ker[1]); var o1 = new Span<int>(a1 + p.Ker[1], p.Ker[1]);
        int* a2 = a1 + 2 * p.Ker[1];
        var r2 = new Span<int>(a2, p.Ker[2]); var o2 = new Span<int>(a2 + p.Ker[2], p.Ker[2]);
        int out12 = p.Out[1] * p.Out[2];

        for (int rho0 = 0; rho0 < p.Stride[0]; rho0++)
        for (int rho1 = 0; rho1 < p.Stride[1]; rho1++)
        for (int rho2 = 0; rho2 < p.Stride[2]; rho2++)
        {
            int g0 = PhaseCount(p.In[0], rho0, p.Stride[0]), g1 = PhaseCount(p.In[1], rho1, p.Stride[1]), g2 = PhaseCount(p.In[2], rho2, p.Stride[2]);
            if (g0 == 0 || g1 == 0 || g2 == 0)
            {
                continue;
            }
            int n0t = ConvTaps.PhaseAxis(p, 0, rho0, g0, r0, o0);
            int n1t = ConvTaps.PhaseAxis(p, 1, rho1, g1, r1, o1);
            int n2t = ConvTaps.PhaseAxis(p, 2, rho2, g2, r2, o2);
            int taps = 0;
            // x-range where every tap of the row reads inside dY: lo ≤ t_w < hi.
            int lo = 0, hi = g2;
            for (int a = 0; a < n0t; a++)
            for (int b = 0; b < n1t; b++)
            for (int c = 0; c < n2t; c++)
            {
                tapOff[3 * taps] = o0[a];
                tapOff[3 * taps + 1] = o1[b];
                tapOff[3 * taps + 2] = o2[c];
                tapW[taps] = (r0[a] * p.Ker[1] + r1[b]) * p.Ker[2] + r2[c];
                taps++;
            }
            for (int c = 0; c < n2t; c++)
            {
                lo = Math.Max(lo, -o2[c]);
                hi = Math.Min(hi, p.Out[2] - o2[c]);
            }
            hi = Math.Max(hi, lo);

            long rows = (long)p.N * p.Groups * g0 * g1;
            int count = 0, sigG = -1, sigA = -1, sigAn = -1, sigB = -1, sigBn = -1;
            long rowBegin = rows * part / parts, rowEnd = rows * (part + 1) / parts;
            for (long row = rowBegin; row < rowEnd; row++)
            {
                int t1 = (int)(row % g1);
                long rest = row / g1;
                int t0 = (int)(rest % g0);
                rest /= g0;
                int g = (int)(rest % p.Groups), n = (int)(rest / p.Groups);
                float* dyImage = dy + ((nint)n * p.K + (nint)g * p.Kg) * p.OutSpatial;

                // The (k, tap) terms whose dY row lies inside the output, with their source offsets (relative to the dY
                // row of this dX row) and C_g weights. The in-range taps of each axis form a contiguous run of the tap
                // list, so rows with the same runs (all interior rows) reuse the list.
                int a0 = 0, a1n = 0, b0 = 0, b1n = 0;
                for (int a = n0t - 1; a >= 0; a--)
                {
                    if ((uint)(t0 + o0[a]) < (uint)p.Out[0]) { a1n++; a0 = a; }
                }
                for (int b = n1t - 1; b >= 0; b--)
                {
                    if ((uint)(t1 + o1[b]) < (uint)p.Out[1]) { b1n++; b0 = b; }
                }
                if (g != sigG || a0 != sigA || a1n != sigAn || b0 != sigB || b1n != sigBn)
                {
                    sigG = g; sigA = a0; sigAn = a1n; sigB = b0; sigBn = b1n;
                    count = 0;
                    for (int k = 0; k < p.Kg; k++)
                    {
                        for (int t = 0; t < taps; t++)
                        {
                            int z = t0 + tapOff[3 * t], y = t1 + tapOff[3 * t + 1];
                            if ((uint)z >= (uint)p.Out[0] || (uint)y >= (uint)p.Out[1])
                            {
                                continue;
                            }
                            termSrc[count] = k * p.OutSpatial + tapOff[3 * t] * out12 + tapOff[3 * t + 1] * p.Out[2] + tapOff[3 * t + 2];
                            termCol[count] = tapOff[3 * t + 2];
                            float* wk = w + (((nint)g * p.Kg + k) * cg) * ks + tapW[t];
                            for (int c = 0; c < MaxChannels; c++)
                            {
                                termW[4 * count + c] = c < cg ? wk[(nint)c * ks] : 0f;
                            }
                            count++;
                        }
                    }
                }

                RowSums(dyImage + (nint)t0 * out12 + (nint)t1 * p.Out[2], termSrc, termCol, termW, count, g2, lo, hi, p.Out[2], cg, acc);

                for (int c = 0; c < cg; c++)
                {
                    float* dst = dx + (((nint)n * p.C + (nint)g * cg + c) * p.In[0] + rho0 + (nint)t0 * p.Stride[0]) * p.In[1] * p.In[2]
                                    + ((nint)rho1 + (nint)t1 * p.Stride[1]) * p.In[2] + rho2;
                    float* src = acc + (nint)c * g2;
                    int s2 = p.Stride[2];
                    for (int x = 0; x < g2; x++)
                    {
                        dst[(nint)x * s2] = src[x];
                    }
                }
            }
        }
    }

    /// <summary>
    /// acc[c][x] = Σ_i termW[i][c] · dy[termSrc[i] + x] (dy at the row's origin; termSrc may point before it) for x ∈ [0, g2), reading dY only inside [0, width) of each row:
    /// 8-wide vectors (four at a time) over the all-inside range [lo, hi), scalar with bounds outside it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowSums(float* dy, int* termSrc, int* termCol, float* termW, int count, int g2, int lo, int hi, int width, int cg, float* acc)
    {
        int x = lo;
        for (; x + 32 <= hi; x += 32)
        {
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
            for (int i = 0; i < count; i++)
            {
                float* s = dy + termSrc[i] + x;
                var v0 = Vector256.Load(s); var v1 = Vector256.Load(s + 8); var v2 = Vector256.Load(s + 16); var v3 = Vector256.Load(s + 24);
                var w0 = Vector256.Create(termW[4 * i]);
                a00 = Vector256.FusedMultiplyAdd(w0, v0, a00); a01 = Vector256.FusedMultiplyAdd(w0, v1, a01);
                a02 = Vector256.FusedMultiplyAdd(w0, v2, a02); a03 = Vector256.FusedMultiplyAdd(w0, v3, a03);
                if (cg > 1)
                {
                    var w1 = Vector256.Create(termW[4 * i + 1]);
                    a10 = Vector256.FusedMultiplyAdd(w1, v0, a10); a11 = Vector256.FusedMultiplyAdd(w1, v1, a11);
                    a12 = Vector256.FusedMultiplyAdd(w1, v2, a12); a13 = Vector256.FusedMultiplyAdd(w1, v3, a13);
                    var w2 = Vector256.Create(termW[4 * i + 2]);
                    a20 = Vector256.FusedMultiplyAdd(w2, v0, a20); a21 = Vector256.FusedMultiplyAdd(w2, v1, a21);
                    a22 = Vector256.FusedMultiplyAdd(w2, v2, a22); a23 = Vector256.FusedMultiplyAdd(w2, v3, a23);
                }
            }
            float* o = acc + x;
            a00.Store(o); a01.Store(o + 8); a02.Store(o + 16); a03.Store(o + 24);
            if (cg > 1)
            {
                o += g2;
                a10.Store(o); a11.Store(o + 8); a12.Store(o + 16); a13.Store(o + 24);
                if (cg > 2)
                {
                    o += g2;
                    a20.Store(o); a21.Store(o + 8); a22.Store(o + 16); a23.Store(o + 24);
                }
            }
        }
        for (; x + 16 <= hi; x += 16)
        {
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
            for (int i = 0; i < count; i++)
            {
                float* s = dy + termSrc[i] + x;
                var v0 = Vector256.Load(s); var v1 = Vector256.Load(s + 8);
                var w0 = Vector256.Create(termW[4 * i]);
                a00 = Vector256.FusedMultiplyAdd(w0, v0, a00); a01 = Vector256.FusedMultiplyAdd(w0, v1, a01);
                if (cg > 1)
                {
                    var w1 = Vector256.Create(termW[4 * i + 1]);
                    a10 = Vector256.FusedMultiplyAdd(w1, v0, a10); a11 = Vector256.FusedMultiplyAdd(w1, v1, a11);
                    var w2 = Vector256.Create(termW[4 * i + 2]);
                    a20 = Vector256.FusedMultiplyAdd(w2, v0, a20); a21 = Vector256.FusedMultiplyAdd(w2, v1, a21);
                }
            }
            float* o = acc + x;
            a00.Store(o); a01.Store(o + 8);
            if (cg > 1)
            {
                o += g2;
                a10.Store(o); a11.Store(o + 8);
                if (cg > 2)
                {
                    o += g2;
                    a20.Store(o); a21.Store(o + 8);
                }
            }
        }
        for (; x + 8 <= hi; x += 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default;
            for (int i = 0; i < count; i++)
            {
                var v = Vector256.Load(dy + termSrc[i] + x);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(termW[4 * i]), v, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(termW[4 * i + 1]), v, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(termW[4 * i + 2]), v, a2);
            }
            a0.Store(acc + x);
            if (cg > 1)
            {
                a1.Store(acc + g2 + x);
                if (cg > 2)
                {
                    a2.Store(acc + 2 * g2 + x);
                }
            }
        }
        // Scalar: the tail of [lo, hi) and the border columns, each read bounds-checked against the dY row.
        for (int xs = 0; xs < g2; xs++)
        {
            if (xs == lo && x > lo)
            {
                xs = x - 1; // [lo, x) was done with vectors
                continue;
            }
            float s0 = 0f, s1 = 0f, s2 = 0f;
            for (int i = 0; i < count; i++)
            {
                if ((uint)(xs + termCol[i]) >= (uint)width)
                {
                    continue;
                }
                float v = dy[termSrc[i] + xs];
                s0 = MathF.FusedMultiplyAdd(termW[4 * i], v, s0);
                s1 = MathF.FusedMultiplyAdd(termW[4 * i + 1], v, s1);
                s2 = MathF.FusedMultiplyAdd(termW[4 * i + 2], v, s2);
            }
            acc[xs] = s0;
            if (cg > 1)
            {
                acc[g2 + xs] = s1;
                if (cg > 2)
                {
                    acc[2 * g2 + xs] = s2;
                }
            }
        }
    }

    public static long WorkspaceBytes(ConvProblem p, int parts)
    {
        long terms = (long)p.Kg * p.KerSpatial;
        return parts * 4L * (4 * terms + 4L * p.In[2] + 64 + 4 * p.KerSpatial + 2 * (p.Ker[0] + p.Ker[1] + p.Ker[2]) + 2 * terms);
    }

    private static int PhaseCount(int size, int rho, int s) => rho < size ? (size - rho + s - 1) / s : 0;
}
