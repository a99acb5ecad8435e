using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Depthwise forward and backward-data (groups = C = K) on the channel-blocked layout, two output rows at a time
/// (<see cref="DepthwiseRowsTile"/>): the source rows both rows read are merged into one ordered list, so each loaded
/// input vector feeds every kernel row of both output rows that uses it (a 3×3 stride-1 pair loads 4 rows for 6 kernel
/// rows' work). Nothing is staged: the columns whose taps all fall inside the row go through the tile in place, and the
/// few border columns (the padding) through a per-pixel loop over the valid taps only.
/// <list type="bullet">
/// <item>Forward: <c>y[oy][ox] = b + Σ_{ky,kx} x[oy·s + ky·d − p][ox·s + kx·d − p]·w[ky][kx]</c>, per output-row pair.</item>
/// <item>Backward-data: per dX row pair and width stride phase, the taps that reach the phase, reading dY with stride 1
/// (no zero inserted); dX positions no output reads get exact zeros.</item>
/// </list>
/// Each output element is one FMA chain over its kernel rows (in order) and width taps (in order), whatever the pairing,
/// the tile width or the thread count. Weights are <c>[C-block][taps][lane]</c> (<see cref="BlockedWeights.Depthwise"/>).
/// A 2-D forward, and a 2-D unit-stride backward-data, run instead on <see cref="DepthwisePlanesTile"/>
/// (<see cref="ConvPlanner.DepthwisePlanes"/>), one call per image and channel block walking the plane row by row with
/// no per-row setup outside the tile; the forward's chains are the same, so its bits are too.
/// </summary>
internal static unsafe class DepthwiseRowPairs<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>y = x ⋆ w + b for the output row pairs of part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    public static void Forward(BlockedGeometry g, float* x, float* w, float* bias, float* y, int part, int parts)
    {
        if (ConvPlanner.DepthwisePlanes(g, ConvPass.Forward))
        {
            Planes(g, x, w, bias, y, transposed: false, part, parts);
            return;
        }
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kr = g.Ker[0] * g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        int pairs = (oh + 1) / 2;
        long items = (long)g.N * g.Cb * od * pairs;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        var rows = new KernelRowPairs(kr);
        var (lo, hi) = KernelRows.InteriorColumns(g);
        int u = hi > lo ? BlockedGeometry.TileWidth(hi - lo, TI.MaxPixels) : 1;
        var tiles = default(TileCache<DepthwiseRowsTile, DepthwiseRowsArgs, TI, TV>);
        DepthwiseRowsArgs a = default;
        a.Taps = kw;
        a.XTap = (nint)dwl * b;
        a.WTap = b;
        a.PixelStride = (nint)sw * b;
        a.YPix = b;
        a.YRow = (nint)ow * b;
        a.RowX = rows.X;
        a.RowW = rows.W;
        for (long item = begin; item < end; item++)
        {
            long rest = item;
            int oy = 2 * (int)(rest % pairs); rest /= pairs;
            int oz = (int)(rest % od); rest /= od;
            int cb = (int)(rest % g.Cb);
            int n = (int)(rest / g.Cb);
            int nr = Math.Min(2, oh - oy);
            rows.N0 = KernelRows.Forward(g, oz, oy, rows.X0, 0, (nint)iw * b, rows.W0, 0, (nint)kw * b);
            rows.N1 = nr > 1 ? KernelRows.Forward(g, oz, oy + 1, rows.X1, 0, (nint)iw * b, rows.W1, 0, (nint)kw * b) : 0;
            a.Rows = rows.Merge(ascending: true);
            float* xImg = x + (nint)(n * g.Cb + cb) * inPlane;
            float* wBlock = w + (nint)cb * g.Taps * b;
            float* init = bias == null ? null : bias + (nint)cb * b;
            float* yRow = y + (nint)(n * g.Cb + cb) * outPlane + ((nint)oz * oh + oy) * ow * b;
            a.W = wBlock;
            a.Init = init;
            for (int ox = lo; ox < hi; ox += u)
            {
                int pixels = Math.Min(u, hi - ox);
                a.X = xImg + ((nint)ox * sw - pw) * b;
                a.Y = yRow + (nint)ox * b;
                tiles.Run(pixels, nr, BlockedGeometry.PixelStrideSlot(sw), 0, 0, ref a);
            }
            for (int ox = 0; ox < ow; ox++)
            {
                if (ox == lo && hi > lo)
                {
                    ox = hi - 1;
                    continue;
                }
                int c0 = ox * sw - pw;
                BorderPixel(xImg, c0, dwl, kw, iw, rows.X0, rows.W0, rows.N0, wBlock, 1, init, yRow + (nint)ox * b);
                if (nr > 1)
                {
                    BorderPixel(xImg, c0, dwl, kw, iw, rows.X1, rows.W1, rows.N1, wBlock, 1, init, yRow + a.YRow + (nint)ox * b);
                }
            }
        }
    }

    /// <summary>dx = ∂L/∂x for the dX row pairs of part <paramref name="part"/> of <paramref name="parts"/>, by width stride phases.</summary>
    public static void BackwardData(BlockedGeometry g, float* dy, float* w, float* dx, int part, int parts)
    {
        if (ConvPlanner.DepthwisePlanes(g, ConvPass.BackwardData))
        {
            Planes(g, dy, w, null, dx, transposed: true, part, parts);
            return;
        }
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kr = g.Ker[0] * g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2];
        int pairs = (ih + 1) / 2;
        long items = (long)g.N * g.Cb * id * pairs;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        int gcd = BlockedGeometry.Gcd(sw, dwl);
        int q = sw / gcd, delta = dwl / gcd;
        var rows = new KernelRowPairs(kr);
        var tiles = default(TileCache<DepthwiseRowsTile, DepthwiseRowsArgs, TI, TV>);
        DepthwiseRowsArgs a = default;
        a.XTap = -(nint)delta * b;
        a.WTap = (nint)q * b;
        a.YPix = (nint)sw * b;
        a.YRow = (nint)iw * b;
        a.RowX = rows.X;
        a.RowW = rows.W;
        for (long item = begin; item < end; item++)
        {
            long rest = item;
            int iy = 2 * (int)(rest % pairs); rest /= pairs;
            int iz = (int)(rest % id); rest /= id;
            int cb = (int)(rest % g.Cb);
            int n = (int)(rest / g.Cb);
            int nr = Math.Min(2, ih - iy);
            rows.N0 = KernelRows.BackwardData(g, iz, iy, rows.X0, 0, (nint)ow * b, rows.W0, 0, (nint)kw * b);
            rows.N1 = nr > 1 ? KernelRows.BackwardData(g, iz, iy + 1, rows.X1, 0, (nint)ow * b, rows.W1, 0, (nint)kw * b) : 0;
            int merged = rows.Merge(ascending: false);
            float* dyImg = dy + (nint)(n * g.Cb + cb) * outPlane;
            float* dxRow = dx + (nint)(n * g.Cb + cb) * inPlane + ((nint)iz * ih + iy) * iw * b;
            for (int rho = 0; rho < sw && rho < iw; rho++)
            {
                var (kw0, taps, off0) = KernelRows.WidthPhase(g, rho);
                int len = (iw - rho + sw - 1) / sw;
                float* wPhase = w + (nint)cb * g.Taps * b + (nint)Math.Max(kw0, 0) * b;
                // Phase column t reads dY columns t + off0 − m·delta, m < taps: all inside for t in [lo, hi).
                int lo = taps == 0 ? 0 : Math.Clamp((taps - 1) * delta - off0, 0, len);
                int hi = taps == 0 ? len : Math.Clamp(ow - off0, lo, len);
                a.Taps = taps;
                a.W = wPhase;
                a.Rows = taps == 0 ? 0 : merged;
                int u = hi > lo ? BlockedGeometry.TileWidth(hi - lo, TI.MaxPixels) : 1;
                for (int t0 = lo; t0 < hi; t0 += u)
                {
                    int pixels = Math.Min(u, hi - t0);
                    a.X = dyImg + ((nint)t0 + off0) * b;
                    a.Y = dxRow + ((nint)rho + (nint)t0 * sw) * b;
                    tiles.Run(pixels, nr, 1, 0, 0, ref a);
                }
                for (int t = 0; t < len; t++)
                {
                    if (t == lo && hi > lo)
                    {
                        t = hi - 1;
                        continue;
                    }
                    float* at = dxRow + ((nint)rho + (nint)t * sw) * b;
                    BorderPixel(dyImg, t + off0, -delta, taps, ow, rows.X0, rows.W0, rows.N0, wPhase, q, null, at);
                    if (nr > 1)
                    {
                        BorderPixel(dyImg, t + off0, -delta, taps, ow, rows.X1, rows.W1, rows.N1, wPhase, q, null, at + a.YRow);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The planes of part <paramref name="part"/> of <paramref name="parts"/> (one per image and channel block) on
    /// <see cref="DepthwisePlanesTile"/> (<see cref="ConvPlanner.DepthwisePlanes"/>): forward reads x with the kernel as it is; backward-data of a unit-stride
    /// layer reads dY with the kernel flipped (<c>dx[i] = Σ_t dy[i + p − t·d]·w[t] = Σ_t' dy[i + t'·d − ((k − 1)·d − p)]·w[k − 1 − t']</c>
    /// per axis), so it is the same correlation with negative weight steps.
    /// </summary>
    private static void Planes(BlockedGeometry g, float* src, float* w, float* bias, float* dst, bool transposed, int part, int parts)
    {
        int b = TI.Lanes;
        int kh = g.Ker[1], kw = g.Ker[2];
        DepthwisePlanesArgs a = default;
        if (!transposed)
        {
            a.InRows = g.In[1]; a.InCols = g.In[2]; a.OutRows = g.Out[1]; a.OutCols = g.Out[2];
            a.StrideH = g.S[1]; a.DilH = g.D[1]; a.PadH = g.P[1];
            a.StrideW = g.S[2]; a.DilW = g.D[2]; a.PadW = g.P[2];
            a.WRow = (nint)kw * b;
            a.WTap = b;
        }
        else
        {
            a.InRows = g.Out[1]; a.InCols = g.Out[2]; a.OutRows = g.In[1]; a.OutCols = g.In[2];
            a.StrideH = 1; a.DilH = g.D[1]; a.PadH = (kh - 1) * g.D[1] - g.P[1];
            a.StrideW = 1; a.DilW = g.D[2]; a.PadW = (kw - 1) * g.D[2] - g.P[2];
            a.WRow = -(nint)kw * b;
            a.WTap = -b;
        }
        a.XRow = (nint)a.InCols * b;
        a.YRow = (nint)a.OutCols * b;
        a.PixelStride = (nint)a.StrideW * b;
        a.XTap = (nint)a.DilW * b;
        var (lo, hi) = PlanesInterior(g, transposed ? ConvPass.BackwardData : ConvPass.Forward);
        a.Lo = lo;
        a.Hi = hi;
        int u = PlanesPixels(g, transposed ? ConvPass.BackwardData : ConvPass.Forward);
        nint inPlane = (nint)a.InRows * a.InCols * b, outPlane = (nint)a.OutRows * a.OutCols * b;
        long items = (long)g.N * g.Cb;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        var tiles = default(TileCache<DepthwisePlanesTile, DepthwisePlanesArgs, TI, TV>);
        int pixelSlot = BlockedGeometry.PixelStrideSlot(a.StrideW), tapSlot = BlockedGeometry.PixelStrideSlot(a.DilW);
        for (long item = begin; item < end; item++)
        {
            int cb = (int)(item % g.Cb);
            a.X = src + (nint)item * inPlane;
            a.Y = dst + (nint)item * outPlane;
            a.W = w + (nint)cb * g.Taps * b + (transposed ? (nint)(g.Taps - 1) * b : 0);
            a.Init = bias == null ? null : bias + (nint)cb * b;
            tiles.Run(u, kw, kh, pixelSlot, tapSlot, ref a);
        }
    }

    /// <summary>
    /// Pixels per group of <see cref="DepthwisePlanesTile"/> along the interior of an output row: the fewest groups of at most
    /// 14 (AVX-512) or 12 (AVX2: twelve accumulators, a weight and an input vector in 16 registers), all as wide as possible.
    /// </summary>
    public static int PlanesPixels(BlockedGeometry g, ConvPass pass)
    {
        var (lo, hi) = PlanesInterior(g, pass);
        return hi > lo ? BlockedGeometry.TileWidth(hi - lo, g.B == 16 ? 14 : 12) : 1;
    }

    /// <summary>The interior output columns of the planes tile: forward's, or for backward-data those of the flipped kernel over dY.</summary>
    private static (int Lo, int Hi) PlanesInterior(BlockedGeometry g, ConvPass pass) => pass == ConvPass.Forward
        ? InteriorColumns(g.Out[2], g.In[2], g.S[2], g.D[2], g.P[2], g.Ker[2])
        : InteriorColumns(g.In[2], g.Out[2], 1, g.D[2], (g.Ker[2] - 1) * g.D[2] - g.P[2], g.Ker[2]);

    /// <summary>Outputs <c>[Lo, Hi)</c> of a row of <paramref name="outCols"/> whose taps <c>o·s + t·d − p</c>, <c>t &lt; k</c>, all lie in <c>[0, inCols)</c>.</summary>
    private static (int Lo, int Hi) InteriorColumns(int outCols, int inCols, int s, int d, int p, int k)
    {
        int lo = p <= 0 ? 0 : (p + s - 1) / s;
        int top = inCols - 1 - (k - 1) * d + p;
        int hi = top < 0 ? 0 : Math.Min(outCols, top / s + 1);
        return (Math.Min(lo, outCols), Math.Max(Math.Min(lo, outCols), hi));
    }

    /// <summary>
    /// One output pixel whose taps reach past the row: <c>init + Σ_r Σ_m src[rowX[r] + (c0 + m·cStep)]·w[rowW[r] + m·wStep]</c>
    /// over the taps m whose column lies in <c>[0, width)</c>, rows and taps in order (the tile's chain without the
    /// padding's terms).
    /// </summary>
    private static void BorderPixel(float* src, int c0, int cStep, int taps, int width, nint* rowX, nint* rowW, int rows, float* w, int wStep, float* init, float* y)
    {
        int b = TI.Lanes;
        TV acc = init != null ? TI.Load(init) : TI.Zero;
        for (int r = 0; r < rows; r++)
        {
            float* s = src + rowX[r];
            float* wr = w + rowW[r];
            for (int m = 0; m < taps; m++)
            {
                int c = c0 + m * cStep;
                if ((uint)c < (uint)width)
                {
                    acc = TI.Fma(TI.Load(s + (nint)c * b), TI.Load(wr + (nint)m * wStep * b), acc);
                }
            }
        }
        TI.Store(y, acc);
    }
}
