using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Depthwise convolution (groups = C = K, one filter per channel) on the channel-blocked layout, with the block's
/// channels as the vector lanes: no transposes and no broadcasts once the data is blocked.
/// <list type="bullet">
/// <item>Forward: per output row, tiles of up to <c>MaxPixels</c> pixels (<see cref="DepthwiseTile"/>); borders read a
/// zero-padded copy of just the columns a tile needs.</item>
/// <item>Backward-data: the same tile per dX row and width stride phase, with only the taps that reach the phase.</item>
/// <item>Backward-weight: a task owns one channel block; per tap and row a four-way split dot product along the row
/// (combined in a fixed order), summed over images and rows in order, so dW is bitwise the same for any thread count.</item>
/// </list>
/// Weights are <c>[C-block][taps][lane]</c> (<see cref="BlockedWeights.Depthwise"/>).
/// </summary>
internal static unsafe class DepthwiseKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>y = x ⋆ w + b.</summary>
    public static void Forward(BlockedGeometry g, float* x, float* w, float* bias, float* y, int part, int parts)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        long items = (long)g.N * g.Cb * od * oh;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        int u = BlockedGeometry.TileWidth(ow, TI.MaxPixels);
        int span = (u - 1) * g.S[2] + (kw - 1) * g.D[2] + 1;
        nint* rowX = BlockedScratch.Offsets(3 * kd * kh);
        nint* rowW = rowX + kd * kh;
        nint* stagedRowX = rowX + 2 * kd * kh;
        float* stage = null;
        var tiles = default(TileCache<DepthwiseTile, TileArgs, TI, TV>);
        TileArgs a = default;
        a.Taps = kw;
        a.XTap = (nint)g.D[2] * b;
        a.WTap = b;
        a.PixelStride = (nint)g.S[2] * b;
        a.YPix = b;
        a.InBlocks = 1;
        a.RowW = rowW;
        for (long item = begin; item < end; item++)
        {
            long rest = item;
            int oy = (int)(rest % oh); rest /= oh;
            int oz = (int)(rest % od); rest /= od;
            int cb = (int)(rest % g.Cb);
            int n = (int)(rest / g.Cb);
            int rows = KernelRows.Forward(g, oz, oy, rowX, 0, (nint)iw * b, rowW, 0, (nint)kw * b);
            float* xImg = x + (nint)(n * g.Cb + cb) * inPlane;
            a.W = w + (nint)cb * g.Taps * b;
            a.Init = bias == null ? null : bias + (nint)cb * b;
            a.Rows = rows;
            float* yRow = y + (nint)(n * g.Cb + cb) * outPlane + ((nint)oz * oh + oy) * ow * b;
            for (int ox = 0; ox < ow; ox += u)
            {
                int pixels = Math.Min(u, ow - ox);
                int c0 = ox * g.S[2] - g.P[2];
                int hi = c0 + (pixels - 1) * g.S[2] + (kw - 1) * g.D[2];
                a.Y = yRow + (nint)ox * b;
                if (c0 >= 0 && hi < iw)
                {
                    a.X = xImg + (nint)c0 * b;
                    a.RowX = rowX;
                }
                else
                {
                    stage = stage != null ? stage : BlockedScratch.Floats((long)kd * kh * span * b);
                    DirectKernels<TI, TV>.Stage(xImg, inPlane, 1, rowX, rows, c0, hi - c0 + 1, iw, stage, stagedRowX);
                    a.X = stage;
                    a.RowX = stagedRowX;
                }
                tiles.Run(pixels, BlockedGeometry.PixelStrideSlot(g.S[2]), 1, 0, 0, ref a);
            }
        }
    }

    /// <summary>dx = ∂L/∂x by dX rows and width stride phases.</summary>
    public static void BackwardData(BlockedGeometry g, float* dy, float* w, float* dx, int part, int parts)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dw = g.D[2], pw = g.P[2];
        long items = (long)g.N * g.Cb * id * ih;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        int gcd = BlockedGeometry.Gcd(sw, dw);
        int q = sw / gcd, delta = dw / gcd;
        int u = BlockedGeometry.TileWidth((iw + sw - 1) / sw, TI.MaxPixels);
        int span = u + (kw - 1) * delta + 1;
        nint* rowX = BlockedScratch.Offsets(3 * kd * kh);
        nint* rowW = rowX + kd * kh;
        nint* stagedRowX = rowX + 2 * kd * kh;
        float* stage = null;
        var tiles = default(TileCache<DepthwiseTile, TileArgs, TI, TV>);
        TileArgs a = default;
        a.XTap = -(nint)delta * b;
        a.WTap = (nint)q * b;
        a.YPix = (nint)sw * b;
        a.InBlocks = 1;
        a.RowW = rowW;
        for (long item = begin; item < end; item++)
        {
            long rest = item;
            int iy = (int)(rest % ih); rest /= ih;
            int iz = (int)(rest % id); rest /= id;
            int cb = (int)(rest % g.Cb);
            int n = (int)(rest / g.Cb);
            int rows = KernelRows.BackwardData(g, iz, iy, rowX, 0, (nint)ow * b, rowW, 0, (nint)kw * b);
            float* dyImg = dy + (nint)(n * g.Cb + cb) * outPlane;
            float* dxRow = dx + (nint)(n * g.Cb + cb) * inPlane + ((nint)iz * ih + iy) * iw * b;
            for (int rho = 0; rho < sw && rho < iw; rho++)
            {
                var (kw0, taps, off0) = KernelRows.WidthPhase(g, rho);
                int len = (iw - rho + sw - 1) / sw;
                a.Taps = taps;
                a.W = w + (nint)cb * g.Taps * b + (nint)Math.Max(kw0, 0) * b;
                int activeRows = taps == 0 ? 0 : rows;
                a.Rows = activeRows;
                for (int t0 = 0; t0 < len; t0 += u)
                {
                    int pixels = Math.Min(u, len - t0);
                    int c0 = t0 + off0;
                    int lo = c0 - (taps > 0 ? (taps - 1) * delta : 0), hi = c0 + pixels - 1;
                    a.Y = dxRow + ((nint)rho + (nint)t0 * sw) * b;
                        if (activeRows == 0 || (lo >= 0 && hi < ow))
                    {
                        a.X = dyImg + (nint)c0 * b;
                        a.RowX = rowX;
                    }
                    else
                    {
                        int width = hi - lo + 1;
                        stage = stage != null ? stage : BlockedScratch.Floats((long)kd * kh * span * b);
                        DirectKernels<TI, TV>.Stage(dyImg, outPlane, 1, rowX, rows, lo, width, ow, stage, stagedRowX);
                        a.X = stage + (nint)(c0 - lo) * b;
                        a.RowX = stagedRowX;
                    }
                    tiles.Run(pixels, 1, 1, 0, 0, ref a);
                }
            }
        }
    }

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
