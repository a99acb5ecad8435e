using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Depthwise backward-weight (groups = C = K, one filter per channel) on the channel-blocked layout, with the block's
/// channels as the vector lanes: a task owns one channel block; per tap and row a four-way split dot product along the
/// row (combined in a fixed order), summed over images and rows in order, so dW is bitwise the same for any thread
/// count. Forward and backward-data are <see cref="DepthwiseRowPairs{TI, TV}"/>.
/// </summary>
internal static unsafe class DepthwiseKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>dW of channel blocks <c>[part·Cb/parts, (part+1)·Cb/parts)</c> into <paramref name="dw"/> <c>[C, 1, taps]</c>.</summary>
    public static void BackwardWeight(BlockedGeometry g, float* x, float* dy, float* dw, int part, int parts)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        int taps = g.Taps;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        int begin = (int)((long)g.Cb * part / parts), end = (int)((long)g.Cb * (part + 1) / parts);
        float* acc = BlockedScratch.Floats((long)taps * b);
        nint* rowX = BlockedScratch.Offsets(2 * kd * kh);
        nint* rowW = rowX + kd * kh;
        for (int cb = begin; cb < end; cb++)
        {
            new Span<float>(acc, taps * b).Clear();
            for (int n = 0; n < g.N; n++)
            for (int oz = 0; oz < od; oz++)
            for (int oy = 0; oy < oh; oy++)
            {
                float* dyRow = dy + (nint)(n * g.Cb + cb) * outPlane + ((nint)oz * oh + oy) * ow * b;
                float* xImg = x + (nint)(n * g.Cb + cb) * inPlane;
                int rows = KernelRows.Forward(g, oz, oy, rowX, 0, (nint)iw * b, rowW, 0, (nint)kw * b);
                for (int r = 0; r < rows; r++)
                {
                    float* xRow = xImg + rowX[r];
                    for (int rx = 0; rx < kw; rx++)
                    {
                        var (lo, hi) = KernelRows.WidthRange(g, rx);
                        if (hi <= lo)
                        {
                            continue;
                        }
                        float* t = acc + rowW[r] + (nint)rx * b;
                        TI.Store(t, TI.Add(TI.Load(t), Dot(dyRow + (nint)lo * b, xRow + ((nint)lo * sw + rx * dwl - pw) * b, (nint)sw * b, hi - lo)));
                    }
                }
            }
            int cn = Math.Min(b, g.C - cb * b);
            for (int l = 0; l < cn; l++)
            {
                for (int tap = 0; tap < taps; tap++)
                {
                    dw[(nint)(cb * b + l) * taps + tap] = acc[tap * b + l];
                }
            }
        }
    }

    /// <summary>Lane-wise Σ dy[i]·x[i·xStep] over <paramref name="count"/> pixels: four partial sums, combined as (s0 + s1) + (s2 + s3).</summary>
    private static TV Dot(float* dy, float* x, nint xStep, int count)
    {
        int b = TI.Lanes;
        TV s0 = TI.Zero, s1 = TI.Zero, s2 = TI.Zero, s3 = TI.Zero;
        int i = 0;
        for (; i + 4 <= count; i += 4, dy += 4 * b, x += 4 * xStep)
        {
            s0 = TI.Fma(TI.Load(dy), TI.Load(x), s0);
            s1 = TI.Fma(TI.Load(dy + b), TI.Load(x + xStep), s1);
            s2 = TI.Fma(TI.Load(dy + 2 * b), TI.Load(x + 2 * xStep), s2);
            s3 = TI.Fma(TI.Load(dy + 3 * b), TI.Load(x + 3 * xStep), s3);
        }
        for (; i < count; i++, dy += b, x += xStep)
        {
            s0 = TI.Fma(TI.Load(dy), TI.Load(x), s0);
        }
        return TI.Add(TI.Add(s0, s1), TI.Add(s2, s3));
    }
}
