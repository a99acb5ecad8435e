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
    /// <c>acc[t] += Σ_j a[j]·b[t][j]</c> for <c>j &lt; width</c>, where each <c>acc[t]</c> is a block of
    /// <see cref="DepthwiseBlocking.AccumulatorFloats"/> partial sums whose grouping is fixed by the code path.
    /// </summary>
    static abstract void DotAccumulate(float* a, int width, float** b, int taps, float* acc);

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
            Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int t = 0; t < taps; t++)
            {
                var wv = Vector256.Create(w[kernel[t]]);
                float* s = src[t] + j;
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(s), wv, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(s + 8), wv, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(s + 16), wv, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(s + 24), wv, a3);
            }
            if (j + DepthwiseBlocking.TileFloats <= width)
            {
                Avx.Store(dst + j, a0);
                Avx.Store(dst + j + 8, a1);
                Avx.Store(dst + j + 16, a2);
                Avx.Store(dst + j + 24, a3);
            }
            else
            {
                // The last, partial tile: the sources are padded to whole tiles, the destination is not.
                StorePart(dst + j, width - j, a0);
                StorePart(dst + j + 8, width - j - 8, a1);
                StorePart(dst + j + 16, width - j - 16, a2);
                StorePart(dst + j + 24, width - j - 24, a3);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAccumulate2(float* dstA, float* dstB, int width, float init, float** srcA, int* kA, int tapsA, float** srcB, int* kB, int tapsB, float* w)
    {
        var bias = Vector256.Create(init);
        int common = Math.Min(tapsA, tapsB);
        for (int j = 0; j < width; j += DepthwiseBlocking.TileFloats)
        {
            Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias, b0 = bias, b1 = bias, b2 = bias, b3 = bias;
            int t = 0;
            for (; t < common; t++)
            {
                var wa = Vector256.Create(w[kA[t]]);
                float* sa = srcA[t] + j;
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(sa), wa, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 8), wa, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 16), wa, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 24), wa, a3);
                var wb = Vector256.Create(w[kB[t]]);
                float* sb = srcB[t] + j;
                b0 = Fma.MultiplyAdd(Avx.LoadVector256(sb), wb, b0);
                b1 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 8), wb, b1);
                b2 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 16), wb, b2);
                b3 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 24), wb, b3);
            }
            for (int u = t; u < tapsA; u++)
            {
                var wa = Vector256.Create(w[kA[u]]);
                float* sa = srcA[u] + j;
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(sa), wa, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 8), wa, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 16), wa, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(sa + 24), wa, a3);
            }
            for (int u = t; u < tapsB; u++)
            {
                var wb = Vector256.Create(w[kB[u]]);
                float* sb = srcB[u] + j;
                b0 = Fma.MultiplyAdd(Avx.LoadVector256(sb), wb, b0);
                b1 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 8), wb, b1);
                b2 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 16), wb, b2);
                b3 = Fma.MultiplyAdd(Avx.LoadVector256(sb + 24), wb, b3);
            }
            int left = width - j;
            StorePart(dstA + j, left, a0);
            StorePart(dstA + j + 8, left - 8, a1);
            StorePart(dstA + j + 16, left - 16, a2);
            StorePart(dstA + j + 24, left - 24, a3);
            StorePart(dstB + j, left, b0);
            StorePart(dstB + j + 8, left - 8, b1);
            StorePart(dstB + j + 16, left - 16, b2);
            StorePart(dstB + j + 24, left - 24, b3);
        }
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotAccumulate(float* a, int width, float** b, int taps, float* acc)
    {
        int t = 0;
        for (; t + 4 <= taps; t += 4)
        {
            Dots<Four>(a, width, b + t, acc + t * DepthwiseBlocking.AccumulatorFloats);
        }
        switch (taps - t)
        {
            case 3: Dots<Three>(a, width, b + t, acc + t * DepthwiseBlocking.AccumulatorFloats); break;
            case 2: Dots<Two>(a, width, b + t, acc + t * DepthwiseBlocking.AccumulatorFloats); break;
            case 1: Dots<One>(a, width, b + t, acc + t * DepthwiseBlocking.AccumulatorFloats); break;
        }
    }

    /// <summary>Up to four dot products sharing the loads of <paramref name="a"/>; the tail lanes are masked to zero in both operands.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots<TCount>(float* a, int width, float** b, float* acc)
        where TCount : struct, ICount
    {
        const int Lanes = DepthwiseBlocking.AccumulatorFloats;
        float* b0 = b[0], b1 = TCount.Value > 1 ? b[1] : null, b2 = TCount.Value > 2 ? b[2] : null, b3 = TCount.Value > 3 ? b[3] : null;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        int j = 0;
        for (; j + 8 <= width; j += 8)
        {
            var av = Avx.LoadVector256(a + j);
            s0 = Fma.MultiplyAdd(av, Avx.LoadVector256(b0 + j), s0);
            if (TCount.Value > 1) s1 = Fma.MultiplyAdd(av, Avx.LoadVector256(b1 + j), s1);
            if (TCount.Value > 2) s2 = Fma.MultiplyAdd(av, Avx.LoadVector256(b2 + j), s2);
            if (TCount.Value > 3) s3 = Fma.MultiplyAdd(av, Avx.LoadVector256(b3 + j), s3);
        }
        if (j < width)
        {
            // Masked loads: lanes past the row read nothing (no fault past the end of dY) and are zero in both
            // factors, so data beyond the row (even Inf/NaN) never enters a sum.
            var mask = Vector256.LessThan(Vector256.Create(j) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(width)).AsSingle();
            var av = Avx.MaskLoad(a + j, mask);
            s0 = Fma.MultiplyAdd(av, Avx.MaskLoad(b0 + j, mask), s0);
            if (TCount.Value > 1) s1 = Fma.MultiplyAdd(av, Avx.MaskLoad(b1 + j, mask), s1);
            if (TCount.Value > 2) s2 = Fma.MultiplyAdd(av, Avx.MaskLoad(b2 + j, mask), s2);
            if (TCount.Value > 3) s3 = Fma.MultiplyAdd(av, Avx.MaskLoad(b3 + j, mask), s3);
        }
        Avx.Store(acc, Avx.LoadVector256(acc) + s0);
        if (TCount.Value > 1) Avx.Store(acc + Lanes, Avx.LoadVector256(acc + Lanes) + s1);
        if (TCount.Value > 2) Avx.Store(acc + 2 * Lanes, Avx.LoadVector256(acc + 2 * Lanes) + s2);
        if (TCount.Value > 3) Avx.Store(acc + 3 * Lanes, Avx.LoadVector256(acc + 3 * Lanes) + s3);
    }

    public static float Finish(float* acc)
    {
        // Pairwise in a fixed tree: (0+4, 1+5, 2+6, 3+7), then (01, 23), then the last pair.
        float a = acc[0] + acc[4], b = acc[1] + acc[5], c = acc[2] + acc[6], d = acc[3] + acc[7];
        return (a + c) + (b + d);
    }

    private interface ICount
    {
        static abstract int Value { get; }
    }

    private readonly struct One : ICount { public static int Value => 1; }
    private readonly struct Two : ICount { public static int Value => 2; }
    private readonly struct Three : ICount { public static int Value => 3; }
    private readonly struct Four : ICount { public static int Value => 4; }
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

    public static void DotAccumulate(float* a, int width, float** b, int taps, float* acc)
    {
        for (int t = 0; t < taps; t++)
        {
            float* bt = b[t];
            float sum = 0f;
            for (int j = 0; j < width; j++)
            {
                sum += a[j] * bt[j];
            }
            acc[t * DepthwiseBlocking.AccumulatorFloats] += sum;
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
