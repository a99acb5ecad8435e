using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// The two row operations every depthwise pass reduces to, over rows that the drivers have already padded
/// with zeros (so no bounds tests are needed): a multiply-accumulate of T broadcast taps into one output row,
/// and T dot products of one row with T others. Implemented once with Vector256 + FMA and once in scalar code;
/// the drivers are generic over this interface, so both share every loop above the row.
/// </summary>
/// <remarks>
/// Source rows must be readable up to <c>RoundUp(width, DepthwiseBlocking.TileFloats)</c> elements (the drivers pad them); only
/// <c>width</c> elements are written or used.
/// </remarks>
internal unsafe interface IRowMath
{
    /// <summary><c>dst[j] = init + Σ_t w[kernel[t]]·src[t][j]</c> for <c>j &lt; width</c> (taps in order t = 0, 1, ...; the tap table names each weight by its kernel index, so no per-plane copy of weights is needed).</summary>
    static abstract void MultiplyAccumulate(float* dst, int width, float init, float** src, int* kernel, float* w, int taps);

    /// <summary>
    /// Two rows at once, each exactly as <see cref="MultiplyAccumulate"/> would compute it (same taps, same order, same bits);
    /// interleaving them doubles the independent FMA chains, which hides the FMA latency on short rows.
    /// </summary>
    static abstract void MultiplyAccumulate2(float* dstA, float* dstB, int width, float init, float** srcA, int* kA, int tapsA, float** srcB, int* kB, int tapsB, float* w);

    /// <summary>
    /// <c>acc[t] += Σ_r Σ_j a[r·width + j]·b[r·taps + t][j]</c> for rows <c>r &lt; rows</c>, <c>j &lt; width</c> and taps
    /// <c>t &lt; taps</c>: the dot products of a plane of <paramref name="rows"/> rows with, for every tap, the row that
    /// tap reads for each of them (<paramref name="b"/> holds <c>rows × taps</c> row pointers). Each <c>acc[t]</c> is a
    /// block of <see cref="DepthwiseBlocking.AccumulatorFloats"/> partial sums whose grouping is fixed by the code path.
    /// </summary>
    static abstract void DotAccumulatePlane(float* a, int rows, int width, float** b, int taps, float* acc);

    /// <summary>The final sum of one accumulator block, in a fixed order.</summary>
    static abstract float Finish(float* acc);

    /// <summary><c>dst[2t] = even[t]</c>, <c>dst[2t + 1] = odd[t]</c> for <c>2t, 2t + 1 &lt; width</c>: the two width phases of stride 2 back in place.</summary>
    static abstract void Interleave2(float* even, float* odd, float* dst, int width);

    /// <summary><c>even[i] = src[2i]</c>, <c>odd[i] = src[2i + 1]</c> for <c>i &lt; count</c>: an input row split into its two stride-2 phases.</summary>
    static abstract void Deinterleave2(float* src, float* even, float* odd, int count);
}

/// <summary>Vector256 + FMA rows: 8 outputs a vector, tiles of 4 vectors so that one broadcast weight feeds 4 independent FMA chains.</summary>
internal readonly unsafe struct Fma256RowMath : IRowMath
{
    public static bool IsSupported => Fma.IsSupported && Avx2.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAccumulate(float* dst, int width, float init, float** src, int* kernel, float* w, int taps)
    {
        var bias = Vector256.Create(init);
        for (int j = 0; j < width; j += DepthwiseBlocking.TileFloats)
        {
            var (o0, o1, o2, o3) = TileOffsets(j, width);
            Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int t = 0; t < taps; t++)
            {
                var wv = Vector256.Create(w[kernel[t]]);
                float* s = src[t];
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(s + o0), wv, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(s + o1), wv, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(s + o2), wv, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(s + o3), wv, a3);
            }
            StoreTile(dst, width, o0, o1, o2, o3, a0, a1, a2, a3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAccumulate2(float* dstA, float* dstB, int width, float init, float** srcA, int* kA, int tapsA, float** srcB, int* kB, int tapsB, float* w)
    {
        var bias = Vector256.Create(init);
        int common = Math.Min(tapsA, tapsB);
        for (int j = 0; j < width; j += DepthwiseBlocking.TileFloats)
        {
            var (o0, o1, o2, o3) = TileOffsets(j, width);
            Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias, b0 = bias, b1 = bias, b2 = bias, b3 = bias;
            int t = 0;
            for (; t < common; t++)
            {
                var wa = Vector256.Create(w[kA[t]]);
                float* sa = srcA[t];
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o0), wa, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o1), wa, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o2), wa, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o3), wa, a3);
                var wb = Vector256.Create(w[kB[t]]);
                float* sb = srcB[t];
                b0 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o0), wb, b0);
                b1 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o1), wb, b1);
                b2 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o2), wb, b2);
                b3 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o3), wb, b3);
            }
            for (int u = t; u < tapsA; u++)
            {
                var wa = Vector256.Create(w[kA[u]]);
                float* sa = srcA[u];
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o0), wa, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o1), wa, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o2), wa, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(sa + o3), wa, a3);
            }
            for (int u = t; u < tapsB; u++)
            {
                var wb = Vector256.Create(w[kB[u]]);
                float* sb = srcB[u];
                b0 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o0), wb, b0);
                b1 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o1), wb, b1);
                b2 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o2), wb, b2);
                b3 = Fma.MultiplyAdd(Avx.LoadVector256(sb + o3), wb, b3);
            }
            StoreTile(dstA, width, o0, o1, o2, o3, a0, a1, a2, a3);
            StoreTile(dstB, width, o0, o1, o2, o3, b0, b1, b2, b3);
        }
    }

    /// <summary>
    /// The four vector offsets of the tile at <paramref name="j"/>. A whole tile is j, j+8, j+16, j+24; in the last, partial
    /// tile of a row at least 8 wide, offsets past the row are pulled back to <c>width − 8</c>, so every vector is whole
    /// and in bounds: the overlapped outputs are computed twice with the same taps in the same order (same bits), and
    /// no masked store is needed (AVX masked stores are microcoded and slow on AMD cores).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int, int, int, int) TileOffsets(int j, int width)
    {
        if (j + DepthwiseBlocking.TileFloats <= width || width < 8)
        {
            return (j, j + 8, j + 16, j + 24);
        }
        int last = width - 8;
        return (Math.Min(j, last), Math.Min(j + 8, last), Math.Min(j + 16, last), Math.Min(j + 24, last));
    }

    /// <summary>Stores a tile at its offsets; only a row narrower than one vector needs masked stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile(float* dst, int width, int o0, int o1, int o2, int o3, Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        if (width >= 8)
        {
            Avx.Store(dst + o0, a0);
            Avx.Store(dst + o1, a1);
            Avx.Store(dst + o2, a2);
            Avx.Store(dst + o3, a3);
            return;
        }
        StorePart(dst + o0, width - o0, a0);
    }

    /// <summary>Stores the first <paramref name="count"/> lanes (all when count &gt;= 8, none when count &lt;= 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePart(float* dst, int count, Vector256<float> v)
    {
        if (count >= 8)
        {
            Avx.Store(dst, v);
        }
        else if (count > 0)
        {
            Avx.MaskStore(dst, Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle(), v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Interleave2(float* even, float* odd, float* dst, int width)
    {
        int i = 0;
        for (; i + 16 <= width; i += 16)
        {
            var e = Avx.LoadVector256(even + i / 2);
            var o = Avx.LoadVector256(odd + i / 2);
            var lo = Avx.UnpackLow(e, o);    // e0 o0 e1 o1 | e4 o4 e5 o5
            var hi = Avx.UnpackHigh(e, o);   // e2 o2 e3 o3 | e6 o6 e7 o7
            Avx.Store(dst + i, Avx.Permute2x128(lo, hi, 0x20));
            Avx.Store(dst + i + 8, Avx.Permute2x128(lo, hi, 0x31));
        }
        for (; i < width; i++)
        {
            dst[i] = (i & 1) == 0 ? even[i / 2] : odd[i / 2];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Deinterleave2(float* src, float* even, float* odd, int count)
    {
        int i = 0;
        for (; i + 8 <= count; i += 8)
        {
            var a = Avx.LoadVector256(src + 2 * i);       // s0 .. s7
            var b = Avx.LoadVector256(src + 2 * i + 8);   // s8 .. s15
            // Within each 128-bit lane: evens (s0 s2 s8 s10 | s4 s6 s12 s14), then restore the order across lanes.
            var e = Avx.Shuffle(a, b, 0b10_00_10_00);
            var o = Avx.Shuffle(a, b, 0b11_01_11_01);
            Avx.Store(even + i, Avx2.Permute4x64(e.AsDouble(), 0b11_01_10_00).AsSingle());
            Avx.Store(odd + i, Avx2.Permute4x64(o.AsDouble(), 0b11_01_10_00).AsSingle());
        }
        for (; i < count; i++)
        {
            even[i] = src[2 * i];
            odd[i] = src[2 * i + 1];
        }
    }

    /// <summary>Taps go in groups of up to nine, whose partial sums stay in registers across the whole plane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotAccumulatePlane(float* a, int rows, int width, float** b, int taps, float* acc)
    {
        for (int t = 0; t < taps; t += 9)
        {
            float* accT = acc + t * DepthwiseBlocking.AccumulatorFloats;
            switch (Math.Min(9, taps - t))
            {
                case 9: Dots<Nine>(a, rows, width, b + t, taps, accT); break;
                case 8: Dots<Eight>(a, rows, width, b + t, taps, accT); break;
                case 7: Dots<Seven>(a, rows, width, b + t, taps, accT); break;
                case 6: Dots<Six>(a, rows, width, b + t, taps, accT); break;
                case 5: Dots<Five>(a, rows, width, b + t, taps, accT); break;
                case 4: Dots<Four>(a, rows, width, b + t, taps, accT); break;
                case 3: Dots<Three>(a, rows, width, b + t, taps, accT); break;
                case 2: Dots<Two>(a, rows, width, b + t, taps, accT); break;
                default: Dots<One>(a, rows, width, b + t, taps, accT); break;
            }
        }
    }

    /// <summary>
    /// Up to nine dot products over a plane, sharing each load of <paramref name="a"/>: nine independent FMA chains
    /// cover the FMA latency, and ten loads per nine FMAs keep both load ports just ahead. The tail lanes of each row
    /// are masked to zero in both operands.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots<TCount>(float* a, int rows, int width, float** b, int stride, float* acc)
        where TCount : struct, ICount
    {
        const int L = DepthwiseBlocking.AccumulatorFloats;
        int n = TCount.Value;
        var s0 = Avx.LoadVector256(acc);
        var s1 = n > 1 ? Avx.LoadVector256(acc + L) : default;
        var s2 = n > 2 ? Avx.LoadVector256(acc + 2 * L) : default;
        var s3 = n > 3 ? Avx.LoadVector256(acc + 3 * L) : default;
        var s4 = n > 4 ? Avx.LoadVector256(acc + 4 * L) : default;
        var s5 = n > 5 ? Avx.LoadVector256(acc + 5 * L) : default;
        var s6 = n > 6 ? Avx.LoadVector256(acc + 6 * L) : default;
        var s7 = n > 7 ? Avx.LoadVector256(acc + 7 * L) : default;
        var s8 = n > 8 ? Avx.LoadVector256(acc + 8 * L) : default;
        int full = width & ~7;
        // Masked loads for the tail: lanes past the row read nothing (no fault past the end of dY) and are zero in
        // both factors, so data beyond the row (even Inf/NaN) never enters a sum.
        var mask = Vector256.LessThan(Vector256.Create(full) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(width)).AsSingle();
        for (int r = 0; r < rows; r++, a += width, b += stride)
        {
            float* b0 = b[0], b1 = n > 1 ? b[1] : null, b2 = n > 2 ? b[2] : null, b3 = n > 3 ? b[3] : null, b4 = n > 4 ? b[4] : null,
                b5 = n > 5 ? b[5] : null, b6 = n > 6 ? b[6] : null, b7 = n > 7 ? b[7] : null, b8 = n > 8 ? b[8] : null;
            for (int j = 0; j < full; j += 8)
            {
                var av = Avx.LoadVector256(a + j);
                s0 = Fma.MultiplyAdd(av, Avx.LoadVector256(b0 + j), s0);
                if (n > 1) s1 = Fma.MultiplyAdd(av, Avx.LoadVector256(b1 + j), s1);
                if (n > 2) s2 = Fma.MultiplyAdd(av, Avx.LoadVector256(b2 + j), s2);
                if (n > 3) s3 = Fma.MultiplyAdd(av, Avx.LoadVector256(b3 + j), s3);
                if (n > 4) s4 = Fma.MultiplyAdd(av, Avx.LoadVector256(b4 + j), s4);
                if (n > 5) s5 = Fma.MultiplyAdd(av, Avx.LoadVector256(b5 + j), s5);
                if (n > 6) s6 = Fma.MultiplyAdd(av, Avx.LoadVector256(b6 + j), s6);
                if (n > 7) s7 = Fma.MultiplyAdd(av, Avx.LoadVector256(b7 + j), s7);
                if (n > 8) s8 = Fma.MultiplyAdd(av, Avx.LoadVector256(b8 + j), s8);
            }
            if (full < width)
            {
                var av = Avx.MaskLoad(a + full, mask);
                s0 = Fma.MultiplyAdd(av, Avx.MaskLoad(b0 + full, mask), s0);
                if (n > 1) s1 = Fma.MultiplyAdd(av, Avx.MaskLoad(b1 + full, mask), s1);
                if (n > 2) s2 = Fma.MultiplyAdd(av, Avx.MaskLoad(b2 + full, mask), s2);
                if (n > 3) s3 = Fma.MultiplyAdd(av, Avx.MaskLoad(b3 + full, mask), s3);
                if (n > 4) s4 = Fma.MultiplyAdd(av, Avx.MaskLoad(b4 + full, mask), s4);
                if (n > 5) s5 = Fma.MultiplyAdd(av, Avx.MaskLoad(b5 + full, mask), s5);
                if (n > 6) s6 = Fma.MultiplyAdd(av, Avx.MaskLoad(b6 + full, mask), s6);
                if (n > 7) s7 = Fma.MultiplyAdd(av, Avx.MaskLoad(b7 + full, mask), s7);
                if (n > 8) s8 = Fma.MultiplyAdd(av, Avx.MaskLoad(b8 + full, mask), s8);
            }
        }
        Avx.Store(acc, s0);
        if (n > 1) Avx.Store(acc + L, s1);
        if (n > 2) Avx.Store(acc + 2 * L, s2);
        if (n > 3) Avx.Store(acc + 3 * L, s3);
        if (n > 4) Avx.Store(acc + 4 * L, s4);
        if (n > 5) Avx.Store(acc + 5 * L, s5);
        if (n > 6) Avx.Store(acc + 6 * L, s6);
        if (n > 7) Avx.Store(acc + 7 * L, s7);
        if (n > 8) Avx.Store(acc + 8 * L, s8);
    }

    public static float Finish(float* acc)
    {
        // Pairwise in a fixed tree: (0+4, 1+5, 2+6, 3+7), then (01, 23), then the last pair.
        float a = acc[0] + acc[4], b = acc[1] + acc[5], c = acc[2] + acc[6], d = acc[3] + acc[7];
        return (a + c) + (b + d);
    }


}

/// <summary>Scalar rows: the same sums element by element (separate multiply and add), for machines without AVX2/FMA and to check the vector path.</summary>
internal readonly unsafe struct ScalarRowMath : IRowMath
{
    public static void MultiplyAccumulate(float* dst, int width, float init, float** src, int* kernel, float* w, int taps)
    {
        for (int j = 0; j < width; j++)
        {
            dst[j] = init;
        }
        for (int t = 0; t < taps; t++)
        {
            float wt = w[kernel[t]];
            float* s = src[t];
            for (int j = 0; j < width; j++)
            {
                dst[j] += wt * s[j];
            }
        }
    }

    public static void MultiplyAccumulate2(float* dstA, float* dstB, int width, float init, float** srcA, int* kA, int tapsA, float** srcB, int* kB, int tapsB, float* w)
    {
        MultiplyAccumulate(dstA, width, init, srcA, kA, w, tapsA);
        MultiplyAccumulate(dstB, width, init, srcB, kB, w, tapsB);
    }

    public static void DotAccumulatePlane(float* a, int rows, int width, float** b, int taps, float* acc)
    {
        for (int t = 0; t < taps; t++)
        {
            float sum = acc[t * DepthwiseBlocking.AccumulatorFloats];
            for (int r = 0; r < rows; r++)
            {
                float* ar = a + (long)r * width, bt = b[(long)r * taps + t];
                for (int j = 0; j < width; j++)
                {
                    sum += ar[j] * bt[j];
                }
            }
            acc[t * DepthwiseBlocking.AccumulatorFloats] = sum;
        }
    }

    public static float Finish(float* acc) => acc[0];

    public static void Deinterleave2(float* src, float* even, float* odd, int count)
    {
        for (int i = 0; i < count; i++)
        {
            even[i] = src[2 * i];
            odd[i] = src[2 * i + 1];
        }
    }

    public static void Interleave2(float* even, float* odd, float* dst, int width)
    {
        for (int i = 0; i < width; i++)
        {
            dst[i] = (i & 1) == 0 ? even[i / 2] : odd[i / 2];
        }
    }
}
