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
/// Source rows must be readable up to <c>RoundUp(width, 8)</c> elements (the drivers pad them); only
/// <c>width</c> elements are written or used.
/// </remarks>
internal unsafe interface IRowMath
{
    /// <summary><c>dst[j] = init + Σ_t w[t]·src[t][j]</c> for <c>j &lt; width</c> (taps in order t = 0, 1, ...).</summary>
    static abstract void MultiplyAccumulate(float* dst, int width, float init, float** src, float* w, int taps);

    /// <summary>
    /// <c>acc[t] += Σ_j a[j]·b[t][j]</c> for <c>j &lt; width</c>, where each <c>acc[t]</c> is a block of
    /// <see cref="DepthwiseBlocking.AccumulatorFloats"/> partial sums whose grouping is fixed by the code path.
    /// </summary>
    static abstract void DotAccumulate(float* a, int width, float** b, int taps, float* acc);

    /// <summary>The final sum of one accumulator block, in a fixed order.</summary>
    static abstract float Finish(float* acc);
}

/// <summary>Vector256 + FMA rows: 8 outputs a vector, tiles of 4 vectors so that one broadcast weight feeds 4 independent FMA chains.</summary>
internal readonly unsafe struct Fma256RowMath : IRowMath
{
    public static bool IsSupported => Fma.IsSupported && Avx.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAccumulate(float* dst, int width, float init, float** src, float* w, int taps)
    {
        var bias = Vector256.Create(init);
        int j = 0;
        for (; j + 32 <= width; j += 32)
        {
            Vector256<float> a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int t = 0; t < taps; t++)
            {
                var wv = Vector256.Create(w[t]);
                float* s = src[t] + j;
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(s), wv, a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(s + 8), wv, a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(s + 16), wv, a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(s + 24), wv, a3);
            }
            Avx.Store(dst + j, a0);
            Avx.Store(dst + j + 8, a1);
            Avx.Store(dst + j + 16, a2);
            Avx.Store(dst + j + 24, a3);
        }
        for (; j + 8 <= width; j += 8)
        {
            Avx.Store(dst + j, OneVector(bias, src, w, taps, j));
        }
        if (j < width)
        {
            StoreTail(dst + j, width - j, OneVector(bias, src, w, taps, j));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> OneVector(Vector256<float> acc, float** src, float* w, int taps, int j)
    {
        for (int t = 0; t < taps; t++)
        {
            acc = Fma.MultiplyAdd(Avx.LoadVector256(src[t] + j), Vector256.Create(w[t]), acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StoreTail(float* dst, int count, Vector256<float> v)
    {
        float* tmp = stackalloc float[8];
        Avx.Store(tmp, v);
        for (int i = 0; i < count; i++)
        {
            dst[i] = tmp[i];
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
    public static void MultiplyAccumulate(float* dst, int width, float init, float** src, float* w, int taps)
    {
        for (int j = 0; j < width; j++)
        {
            dst[j] = init;
        }
        for (int t = 0; t < taps; t++)
        {
            float wt = w[t];
            float* s = src[t];
            for (int j = 0; j < width; j++)
            {
                dst[j] += wt * s[j];
            }
        }
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
}
