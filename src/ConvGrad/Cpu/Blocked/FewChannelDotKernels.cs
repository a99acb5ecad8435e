using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Backward-data on the blocked layout for one group of 1-3 input channels (a first layer, <see cref="FlatInput.Applies"/>),
/// whose dX block has only C of its lanes in use. The direct dX tile would broadcast dY and spend a whole vector of input
/// channels per FMA on C useful lanes; here the lanes are the <em>output</em> channels instead, so every lane is useful:
/// <code>
///   dX[n, c, x] = Σ_{kb} Σ_{r ∈ T(x)} hsum( W[kb·B .. kb·B+B−1, c, r] ⊙ dY[n, kb, (x + p − r·d)/s] )
/// </code>
/// where T(x) are the taps whose source position (x + p − r·d)/s is whole and inside dY (the stride phases: no zero is
/// inserted and no tap that misses the phase is multiplied). For each dX pixel and channel, one vector accumulator
/// gathers W·dY products over taps and output-channel blocks (vertical FMAs, the weight vectors are the forward blocking
/// <c>OIhw{B}i{B}o</c>'s rows), and one horizontal sum at the end gives the scalar. A register tile is up to
/// <see cref="Pixels"/> consecutive dX pixels of one width phase (their dY sources are consecutive pixels, so they share
/// every tap) × C channels: per tap and output block, C weight loads and one dY load per pixel feed C FMAs per pixel.
/// Pixels at the row borders, whose tap sets are cut by the edge of dY, run one at a time on their own tap list. The
/// block's unused lanes of dX are written as zeros. Rows (image, depth, height) are split among parts; each dX element
/// is one fixed sum, the same for any thread count.
/// </summary>
/// <typeparam name="TI">The instruction set (16 or 8 lanes).</typeparam>
/// <typeparam name="TV">Its vector type.</typeparam>
internal static unsafe class FewChannelDotKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>Consecutive dX pixels per register tile for <paramref name="channels"/> (1-3) channels: pixels × channels accumulators fit the register file.</summary>
    public static int Pixels(int channels) => TI.Lanes == 16 ? 8 : channels == 3 ? 3 : channels == 2 ? 4 : 8;

    /// <summary>
    /// dX rows <c>[rowBegin, rowEnd)</c> of this part, rows being (image, depth, height) of <paramref name="p"/>:
    /// <paramref name="dy"/> blocked <c>[N, Kb, out..., B]</c>, <paramref name="w"/> the forward blocks
    /// (<see cref="BlockedWeights.Forward"/>, one input block), <paramref name="dx"/> blocked <c>[N, 1, in..., B]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardData(ConvProblem p, BlockedGeometry g, float* dy, float* w, float* dx, int part, int parts)
    {
        int b = TI.Lanes, c = p.C, taps = p.KerSpatial;
        long rows = (long)p.N * p.In[0] * p.In[1];
        long rowBegin = rows * part / parts, rowEnd = rows * (part + 1) / parts;
        // Per axis, the taps that reach each phase and their dY offsets; then the row's terms (dY offset, weight offset).
        nint* scratch = BlockedScratch.Offsets(6 * (p.Ker[0] + p.Ker[1] + p.Ker[2]) + 6 * taps);
        nint* r0 = scratch, o0 = r0 + p.Ker[0], r1 = o0 + p.Ker[0], o1 = r1 + p.Ker[1], r2 = o1 + p.Ker[1], o2 = r2 + p.Ker[2];
        nint* termDy = o2 + p.Ker[2], termW = termDy + taps, termCol = termW + taps;
        nint* edgeDy = termCol + taps, edgeW = edgeDy + taps;
        int outPlane = p.Out[1] * p.Out[2];
        nint kbDy = (nint)p.OutSpatial * b, kbW = (nint)taps * b * b;
        int kb = g.Kb, s2 = p.Stride[2];
        int tile = Pixels(c);
        for (long row = rowBegin; row < rowEnd; row++)
        {
            int x1 = (int)(row % p.In[1]);
            long rest = row / p.In[1];
            int x0 = (int)(rest % p.In[0]), n = (int)(rest / p.In[0]);
            int t0 = x0 / p.Stride[0], t1 = x1 / p.Stride[1];
            int n0 = Phase(p, 0, x0 % p.Stride[0], r0, o0, int.MaxValue), n1 = Phase(p, 1, x1 % p.Stride[1], r1, o1, int.MaxValue);
            float* dyImage = dy + (nint)n * kb * kbDy;
            float* dxRow = dx + (((nint)n * p.In[0] + x0) * p.In[1] + x1) * p.In[2] * b;
            for (int rho = 0; rho < s2; rho++)
            {
                int count = rho < p.In[2] ? (p.In[2] - rho + s2 - 1) / s2 : 0;
                if (count == 0)
                {
                    continue;
                }
                int n2 = Phase(p, 2, rho, r2, o2, count);
                int terms = 0, lo = 0, hi = count;
                for (int c2 = 0; c2 < n2; c2++)
                {
                    lo = Math.Max(lo, (int)-o2[c2]);
                    hi = Math.Min(hi, p.Out[2] - (int)o2[c2]);
                }
                hi = Math.Max(hi, lo);
                for (int a = 0; a < n0; a++)
                {
                    if ((uint)(t0 + o0[a]) >= (uint)p.Out[0])
                    {
                        continue;
                    }
                    for (int a1 = 0; a1 < n1; a1++)
                    {
                        if ((uint)(t1 + o1[a1]) >= (uint)p.Out[1])
                        {
                            continue;
                        }
                        for (int c2 = 0; c2 < n2; c2++)
                        {
                            termDy[terms] = (((t0 + o0[a]) * outPlane + (t1 + o1[a1]) * p.Out[2]) + o2[c2]) * b;
                            termW[terms] = ((r0[a] * p.Ker[1] + r1[a1]) * p.Ker[2] + r2[c2]) * b * b;
                            termCol[terms] = o2[c2];
                            terms++;
                        }
                    }
                }
                nint dxStep = (nint)s2 * b;
                float* dxPhase = dxRow + (nint)rho * b;
                for (int t = 0; t < count;)
                {
                    if (t >= lo && t + tile <= hi)
                    {
                        Tile(c, tile, dyImage + (nint)t * b, termDy, termW, terms, kb, kbDy, w, kbW, dxPhase + t * dxStep, dxStep);
                        t += tile;
                    }
                    else if (t >= lo && t < hi)
                    {
                        Tile(c, 1, dyImage + (nint)t * b, termDy, termW, terms, kb, kbDy, w, kbW, dxPhase + t * dxStep, dxStep);
                        t++;
                    }
                    else
                    {
                        // A border pixel: only the terms whose dY column lies inside the row.
                        int edge = 0;
                        for (int i = 0; i < terms; i++)
                        {
                            if ((uint)(t + termCol[i]) < (uint)p.Out[2])
                            {
                                edgeDy[edge] = termDy[i];
                                edgeW[edge] = termW[i];
                                edge++;
                            }
                        }
                        Tile(c, 1, dyImage + (nint)t * b, edgeDy, edgeW, edge, kb, kbDy, w, kbW, dxPhase + t * dxStep, dxStep);
                        t++;
                    }
                }
            }
        }
    }

    /// <summary>The taps of axis <paramref name="a"/> that reach phase <paramref name="rho"/> and their dY offsets, by <see cref="ConvTaps.PhaseAxis{T}"/>.</summary>
    private static int Phase(ConvProblem p, int a, int rho, nint* r, nint* o2, int count)
        => ConvTaps.PhaseAxis(p, a, rho, count, new Span<nint>(r, p.Ker[a]), new Span<nint>(o2, p.Ker[a]));

    private static void Tile(int c, int pixels, float* dy, nint* termDy, nint* termW, int terms, int kb, nint kbDy, float* w, nint kbW, float* dx, nint dxStep)
    {
        switch (c, pixels)
        {
            case (1, 1): Run<One, One>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (2, 1): Run<Two, One>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (_, 1): Run<Three, One>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (1, 8): Run<One, Eight>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (2, 8): Run<Two, Eight>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (3, 8): Run<Three, Eight>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            case (2, 4): Run<Two, Four>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
            default: Run<Three, Three>(dy, termDy, termW, terms, kb, kbDy, w, kbW, dx, dxStep); break;
        }
    }

    /// <summary>
    /// One tile: TU pixels (dY sources <c>dy + u·B</c>) × TC channels of vector accumulators over every term and output
    /// block, then horizontal sums written to the dX pixels (<c>dx + u·dxStep</c>, lanes past C zero).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run<TC, TU>(float* dy, nint* termDy, nint* termW, int terms, int kb, nint kbDy, float* w, nint kbW, float* dx, nint dxStep)
        where TC : struct, ICount
        where TU : struct, ICount
    {
        int nc = TC.Value, nu = TU.Value, b = TI.Lanes;
        TV a00 = TI.Zero, a01 = TI.Zero, a02 = TI.Zero, a03 = TI.Zero, a04 = TI.Zero, a05 = TI.Zero, a06 = TI.Zero, a07 = TI.Zero;
        TV a10 = TI.Zero, a11 = TI.Zero, a12 = TI.Zero, a13 = TI.Zero, a14 = TI.Zero, a15 = TI.Zero, a16 = TI.Zero, a17 = TI.Zero;
        TV a20 = TI.Zero, a21 = TI.Zero, a22 = TI.Zero, a23 = TI.Zero, a24 = TI.Zero, a25 = TI.Zero, a26 = TI.Zero, a27 = TI.Zero;
        for (int i = 0; i < terms; i++)
        {
            float* s = dy + termDy[i];
            float* wt = w + termW[i];
            for (int k = 0; k < kb; k++, s += kbDy, wt += kbW)
            {
                TV w0 = TI.Load(wt);
                TV w1 = nc > 1 ? TI.Load(wt + b) : TI.Zero;
                TV w2 = nc > 2 ? TI.Load(wt + 2 * b) : TI.Zero;
                TV v = TI.Load(s);
                a00 = TI.Fma(w0, v, a00); if (nc > 1) a10 = TI.Fma(w1, v, a10); if (nc > 2) a20 = TI.Fma(w2, v, a20);
                if (nu > 1) { v = TI.Load(s + b); a01 = TI.Fma(w0, v, a01); if (nc > 1) a11 = TI.Fma(w1, v, a11); if (nc > 2) a21 = TI.Fma(w2, v, a21); }
                if (nu > 2) { v = TI.Load(s + 2 * b); a02 = TI.Fma(w0, v, a02); if (nc > 1) a12 = TI.Fma(w1, v, a12); if (nc > 2) a22 = TI.Fma(w2, v, a22); }
                if (nu > 3) { v = TI.Load(s + 3 * b); a03 = TI.Fma(w0, v, a03); if (nc > 1) a13 = TI.Fma(w1, v, a13); if (nc > 2) a23 = TI.Fma(w2, v, a23); }
                if (nu > 4) { v = TI.Load(s + 4 * b); a04 = TI.Fma(w0, v, a04); if (nc > 1) a14 = TI.Fma(w1, v, a14); if (nc > 2) a24 = TI.Fma(w2, v, a24); }
                if (nu > 5) { v = TI.Load(s + 5 * b); a05 = TI.Fma(w0, v, a05); if (nc > 1) a15 = TI.Fma(w1, v, a15); if (nc > 2) a25 = TI.Fma(w2, v, a25); }
                if (nu > 6) { v = TI.Load(s + 6 * b); a06 = TI.Fma(w0, v, a06); if (nc > 1) a16 = TI.Fma(w1, v, a16); if (nc > 2) a26 = TI.Fma(w2, v, a26); }
                if (nu > 7) { v = TI.Load(s + 7 * b); a07 = TI.Fma(w0, v, a07); if (nc > 1) a17 = TI.Fma(w1, v, a17); if (nc > 2) a27 = TI.Fma(w2, v, a27); }
            }
        }
        Write<TC>(dx, a00, a10, a20);
        if (nu > 1) Write<TC>(dx + dxStep, a01, a11, a21);
        if (nu > 2) Write<TC>(dx + 2 * dxStep, a02, a12, a22);
        if (nu > 3) Write<TC>(dx + 3 * dxStep, a03, a13, a23);
        if (nu > 4) Write<TC>(dx + 4 * dxStep, a04, a14, a24);
        if (nu > 5) Write<TC>(dx + 5 * dxStep, a05, a15, a25);
        if (nu > 6) Write<TC>(dx + 6 * dxStep, a06, a16, a26);
        if (nu > 7) Write<TC>(dx + 7 * dxStep, a07, a17, a27);
    }

    /// <summary>One dX pixel: lane c is the horizontal sum of channel c's accumulator, the lanes past C are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Write<TC>(float* dx, TV c0, TV c1, TV c2) where TC : struct, ICount
    {
        TI.Store(dx, TI.Zero);
        dx[0] = Sum(c0);
        if (TC.Value > 1) dx[1] = Sum(c1);
        if (TC.Value > 2) dx[2] = Sum(c2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(TV v)
    {
        if (typeof(TV) == typeof(Vector512<float>))
        {
            return Vector512.Sum(Unsafe.As<TV, Vector512<float>>(ref v));
        }
        if (typeof(TV) == typeof(Vector256<float>))
        {
            return Vector256.Sum(Unsafe.As<TV, Vector256<float>>(ref v));
        }
        return Vector128.Sum(Unsafe.As<TV, Vector128<float>>(ref v));
    }
}
