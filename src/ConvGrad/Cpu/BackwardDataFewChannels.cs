using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>The kernel's name in plans (the tier is appended): <c>dx-few-channels</c>.</summary>
    public const string Name = "dx-few-channels";

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
            int accStride = (g2 + 7) / 8 * 8; // rows are computed in whole vectors
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

                RowSums(dyImage + (nint)t0 * out12 + (nint)t1 * p.Out[2], termSrc, termCol, termW, count, g2, lo, hi, p.Out[2], cg, acc, accStride);

                for (int c = 0; c < cg; c++)
                {
                    float* dst = dx + (((nint)n * p.C + (nint)g * cg + c) * p.In[0] + rho0 + (nint)t0 * p.Stride[0]) * p.In[1] * p.In[2]
                                    + ((nint)rho1 + (nint)t1 * p.Stride[1]) * p.In[2] + rho2;
                    float* src = acc + (nint)c * accStride;
                    int s2 = p.Stride[2];
                    for (int x = 0; x < g2; x++)
                    {
                        dst[(nint)x * s2] = src[x];
                    }
                }
            }
        }
    }

    /// <summary>Terms per pass over a row: their dY rows (a few KiB) stay in L1 while every block of the row uses them.</summary>
    private const int TermChunk = 32;

    /// <summary>
    /// acc[c·accStride + x] = Σ_i termW[i][c] · dy[termSrc[i] + x] for x ∈ [0, g2) (dy at the row's origin; termSrc may
    /// point before it), reading dY only inside [0, width) of each row; lanes up to the next multiple of 8 are scratch.
    /// </summary>
    /// <remarks>
    /// BLIS-style blocking on the term (reduction) dimension: the terms go in chunks of <see cref="TermChunk"/>, and each
    /// chunk runs over the whole row in register blocks (up to 4 vectors for one channel, 3 for two or three: at most nine
    /// accumulators, so nothing spills), which load their partial sums from acc and store them back. A chunk's dY rows
    /// are thus read from L1 by every block instead of every block streaming all terms' rows from L2 (which made this
    /// kernel latency-bound at ~25 cycles per term and block). Blocks partition the row on a fixed grid of vectors, so
    /// every element is one FMA chain over the terms in order: the same sum for any chunking and any thread count.
    /// Blocks inside the all-inside range [lo, hi) load plainly; the others mask each term to its in-row lanes.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowSums(float* dy, int* termSrc, int* termCol, float* termW, int count, int g2, int lo, int hi, int width, int cg, float* acc, int accStride)
    {
        switch (cg)
        {
            case 1: Row<One>(dy, termSrc, termCol, termW, count, g2, lo, hi, width, acc, accStride); break;
            case 2: Row<Two>(dy, termSrc, termCol, termW, count, g2, lo, hi, width, acc, accStride); break;
            default: Row<Three>(dy, termSrc, termCol, termW, count, g2, lo, hi, width, acc, accStride); break;
        }
    }

    private static void Row<TC>(float* dy, int* termSrc, int* termCol, float* termW, int count, int g2, int lo, int hi, int width, float* acc, int accStride)
        where TC : struct, ICount
    {
        const int most = 3; // at most nine accumulators (one channel: two partial sums of three vectors)
        int vectors = (g2 + 7) / 8;
        // At least one pass, so a row that no term reaches is still written (as exact zeros).
        for (int t = 0; t < Math.Max(count, 1); t += TermChunk)
        {
            int chunk = Math.Min(TermChunk, count - t);
            bool first = t == 0;
            int* src = termSrc + t, col = termCol + t;
            float* w = termW + 4 * t;
            for (int i = 0; i < vectors;)
            {
                int x = 8 * i;
                if (x >= lo && x + 8 <= hi)
                {
                    int v = 1;
                    while (v < most && i + v < vectors && x + 8 * (v + 1) <= hi)
                    {
                        v++;
                    }
                    switch (v)
                    {
                        case 3: InsideBlock<TC, Three>(dy, src, w, chunk, x, acc, accStride, first); break;
                        case 2: InsideBlock<TC, Two>(dy, src, w, chunk, x, acc, accStride, first); break;
                        default: InsideBlock<TC, One>(dy, src, w, chunk, x, acc, accStride, first); break;
                    }
                    i += v;
                }
                else if (i + 1 < vectors && !(x + 8 >= lo && x + 16 <= hi))
                {
                    BorderBlock<TC, Two>(dy, src, col, w, chunk, x, width, acc, accStride, first);
                    i += 2;
                }
                else
                {
                    BorderBlock<TC, One>(dy, src, col, w, chunk, x, width, acc, accStride, first);
                    i++;
                }
            }
        }
    }

    /// <summary>Every term of every lane reads inside its dY row: plain loads. (Its own method, so the JIT keeps all nine accumulators in registers.)</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void InsideBlock<TC, TV>(float* dy, int* termSrc, float* termW, int count, int x, float* acc, int accStride, bool first)
        where TC : struct, ICount
        where TV : struct, ICount
    {
        int nc = TC.Value, nv = TV.Value;
        float* o = acc + x;
        Vector256<float> a00 = default, a01 = default, a02 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default;
        if (!first)
        {
            a00 = Vector256.Load(o);
            if (nv > 1) a01 = Vector256.Load(o + 8);
            if (nv > 2) a02 = Vector256.Load(o + 16);
            if (nc > 1)
            {
                a10 = Vector256.Load(o + accStride);
                if (nv > 1) a11 = Vector256.Load(o + accStride + 8);
                if (nv > 2) a12 = Vector256.Load(o + accStride + 16);
            }
            if (nc > 2)
            {
                a20 = Vector256.Load(o + 2 * accStride);
                if (nv > 1) a21 = Vector256.Load(o + 2 * accStride + 8);
                if (nv > 2) a22 = Vector256.Load(o + 2 * accStride + 16);
            }
        }
        if (nc == 1)
        {
            // One channel has too few accumulators to cover the FMA latency: odd terms go to a second set of
            // partial sums (the registers of the unused channels), added in at the end of the chunk.
            int i2 = 0;
            for (; i2 + 1 < count; i2 += 2)
            {
                float* s = dy + termSrc[i2] + x, t = dy + termSrc[i2 + 1] + x;
                var we = Vector256.Create(termW[4 * i2]);
                var wo = Vector256.Create(termW[4 * i2 + 4]);
                a00 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s), a00);
                a10 = Vector256.FusedMultiplyAdd(wo, Vector256.Load(t), a10);
                if (nv > 1) a01 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s + 8), a01);
                if (nv > 1) a11 = Vector256.FusedMultiplyAdd(wo, Vector256.Load(t + 8), a11);
                if (nv > 2) a02 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s + 16), a02);
                if (nv > 2) a12 = Vector256.FusedMultiplyAdd(wo, Vector256.Load(t + 16), a12);
            }
            if (i2 < count)
            {
                float* s = dy + termSrc[i2] + x;
                var we = Vector256.Create(termW[4 * i2]);
                a00 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s), a00);
                if (nv > 1) a01 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s + 8), a01);
                if (nv > 2) a02 = Vector256.FusedMultiplyAdd(we, Vector256.Load(s + 16), a02);
            }
            a00 += a10;
            a01 += a11;
            a02 += a12;
            a00.Store(o);
            if (nv > 1) a01.Store(o + 8);
            if (nv > 2) a02.Store(o + 16);
            return;
        }
        for (int i = 0; i < count; i++)
        {
            float* s = dy + termSrc[i] + x;
            var w0 = Vector256.Create(termW[4 * i]);
            var w1 = nc > 1 ? Vector256.Create(termW[4 * i + 1]) : default;
            var w2 = nc > 2 ? Vector256.Create(termW[4 * i + 2]) : default;
            var v = Vector256.Load(s);
            a00 = Vector256.FusedMultiplyAdd(w0, v, a00);
            if (nc > 1) a10 = Vector256.FusedMultiplyAdd(w1, v, a10);
            if (nc > 2) a20 = Vector256.FusedMultiplyAdd(w2, v, a20);
            if (nv > 1)
            {
                v = Vector256.Load(s + 8);
                a01 = Vector256.FusedMultiplyAdd(w0, v, a01);
                if (nc > 1) a11 = Vector256.FusedMultiplyAdd(w1, v, a11);
                if (nc > 2) a21 = Vector256.FusedMultiplyAdd(w2, v, a21);
            }
            if (nv > 2)
            {
                v = Vector256.Load(s + 16);
                a02 = Vector256.FusedMultiplyAdd(w0, v, a02);
                if (nc > 1) a12 = Vector256.FusedMultiplyAdd(w1, v, a12);
                if (nc > 2) a22 = Vector256.FusedMultiplyAdd(w2, v, a22);
            }
        }
        a00.Store(o);
        if (nv > 1) a01.Store(o + 8);
        if (nv > 2) a02.Store(o + 16);
        if (nc > 1)
        {
            a10.Store(o + accStride);
            if (nv > 1) a11.Store(o + accStride + 8);
            if (nv > 2) a12.Store(o + accStride + 16);
        }
        if (nc > 2)
        {
            a20.Store(o + 2 * accStride);
            if (nv > 1) a21.Store(o + 2 * accStride + 8);
            if (nv > 2) a22.Store(o + 2 * accStride + 16);
        }
    }

    /// <summary>
    /// A block at a row border: each term's lanes outside its dY row are masked to zero in the load and in the weight
    /// (so an infinite weight never meets a padding zero), which adds exactly nothing for those lanes, as skipping the term would.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BorderBlock<TC, TV>(float* dy, int* termSrc, int* termCol, float* termW, int count, int x, int width, float* acc, int accStride, bool first)
        where TC : struct, ICount
        where TV : struct, ICount
    {
        int nc = TC.Value, nv = TV.Value;
        float* o = acc + x;
        Vector256<float> a00 = default, a01 = default, a02 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default;
        if (!first)
        {
            a00 = Vector256.Load(o);
            if (nv > 1) a01 = Vector256.Load(o + 8);
            if (nv > 2) a02 = Vector256.Load(o + 16);
            if (nc > 1)
            {
                a10 = Vector256.Load(o + accStride);
                if (nv > 1) a11 = Vector256.Load(o + accStride + 8);
                if (nv > 2) a12 = Vector256.Load(o + accStride + 16);
            }
            if (nc > 2)
            {
                a20 = Vector256.Load(o + 2 * accStride);
                if (nv > 1) a21 = Vector256.Load(o + 2 * accStride + 8);
                if (nv > 2) a22 = Vector256.Load(o + 2 * accStride + 16);
            }
        }
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var rowWidth = Vector256.Create(width);
        for (int i = 0; i < count; i++)
        {
            float* s = dy + termSrc[i] + x;
            var col = Vector256.Create(x + termCol[i]) + lane;
            var w0 = Vector256.Create(termW[4 * i]);
            var w1 = nc > 1 ? Vector256.Create(termW[4 * i + 1]) : default;
            var w2 = nc > 2 ? Vector256.Create(termW[4 * i + 2]) : default;
            var m = (Vector256.GreaterThanOrEqual(col, Vector256<int>.Zero) & Vector256.LessThan(col, rowWidth)).AsSingle();
            var v = LoadMasked(s, m);
            a00 = Vector256.FusedMultiplyAdd(w0 & m, v, a00);
            if (nc > 1) a10 = Vector256.FusedMultiplyAdd(w1 & m, v, a10);
            if (nc > 2) a20 = Vector256.FusedMultiplyAdd(w2 & m, v, a20);
            if (nv > 1)
            {
                col += Vector256.Create(8);
                m = (Vector256.GreaterThanOrEqual(col, Vector256<int>.Zero) & Vector256.LessThan(col, rowWidth)).AsSingle();
                v = LoadMasked(s + 8, m);
                a01 = Vector256.FusedMultiplyAdd(w0 & m, v, a01);
                if (nc > 1) a11 = Vector256.FusedMultiplyAdd(w1 & m, v, a11);
                if (nc > 2) a21 = Vector256.FusedMultiplyAdd(w2 & m, v, a21);
            }
        }
        a00.Store(o);
        if (nv > 1) a01.Store(o + 8);
        if (nv > 2) a02.Store(o + 16);
        if (nc > 1)
        {
            a10.Store(o + accStride);
            if (nv > 1) a11.Store(o + accStride + 8);
            if (nv > 2) a12.Store(o + accStride + 16);
        }
        if (nc > 2)
        {
            a20.Store(o + 2 * accStride);
            if (nv > 1) a21.Store(o + 2 * accStride + 8);
            if (nv > 2) a22.Store(o + 2 * accStride + 16);
        }
    }

    /// <summary>The lanes of <paramref name="s"/> where <paramref name="m"/> is set, zero elsewhere; masked lanes are never read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LoadMasked(float* s, Vector256<float> m)
    {
        if (Avx.IsSupported)
        {
            return Avx.MaskLoad(s, m);
        }
        var r = Vector256<float>.Zero;
        for (int i = 0; i < 8; i++)
        {
            if (m.AsInt32().GetElement(i) != 0)
            {
                r = r.WithElement(i, s[i]);
            }
        }
        return r;
    }



    public static long WorkspaceBytes(ConvProblem p, int parts)
    {
        long terms = (long)p.Kg * p.KerSpatial;
        return parts * 4L * (4 * terms + 4L * p.In[2] + 64 + 4 * p.KerSpatial + 2 * (p.Ker[0] + p.Ker[1] + p.Ker[2]) + 2 * terms);
    }

    private static int PhaseCount(int size, int rho, int s) => rho < size ? (size - rho + s - 1) / s : 0;
}
