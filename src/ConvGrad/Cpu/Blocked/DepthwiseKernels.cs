using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Depthwise backward-weight (groups = C = K, one filter per channel) on the channel-blocked layout, with the block's
/// channels as the vector lanes: <c>dw[ky][kx] = Σ_{n,oy,ox} x[oy·s + ky·d − p][ox·s + kx·d − p]·dy[oy][ox]</c>. A task owns
/// one channel block. A 2-D kernel of at most <see cref="ConvPlanner.DepthwiseWeightInRegisters"/> taps keeps every tap's
/// sum in a register over all images and rows (<see cref="DepthwiseWeightPlanesTile"/>: one dY load per pixel feeds one
/// FMA per tap, nothing goes through memory until the block is done). Other kernels sum every image and output-row pair
/// in order: per source row of the pair
/// (<see cref="KernelRowPairs"/>), one <see cref="DepthwiseWeightTile"/> along the interior columns serves the kernel rows
/// of both output rows (each input vector loaded once for them), then the padding's border columns per tap. The order is
/// fixed by the shape, so dW is bitwise the same for any thread count. Forward and backward-data are
/// <see cref="DepthwiseRowPairs{TI, TV}"/>.
/// </summary>
internal static unsafe class DepthwiseKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>Width taps per tile call (<see cref="DepthwiseWeightTile"/>'s limit); longer rows of taps go in chunks.</summary>
    private const int TapChunk = 7;

    /// <summary>dW of channel blocks <c>[part·Cb/parts, (part+1)·Cb/parts)</c> into <paramref name="dw"/> <c>[C, 1, taps]</c>.</summary>
    public static void BackwardWeight(BlockedGeometry g, float* x, float* dy, float* dw, int part, int parts)
    {
        if (ConvPlanner.DepthwiseWeightInRegisters(g))
        {
            BackwardWeightPlanes(g, x, dy, dw, part, parts);
            return;
        }
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kr = g.Ker[0] * g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        int taps = g.Taps;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        int begin = (int)((long)g.Cb * part / parts), end = (int)((long)g.Cb * (part + 1) / parts);
        float* acc = BlockedScratch.Floats((long)taps * b);
        var rows = new KernelRowPairs(kr);
        var (lo, hi) = KernelRows.InteriorColumns(g);
        var tiles = default(TileCache<DepthwiseWeightTile, DepthwiseWeightArgs, TI, TV>);
        DepthwiseWeightArgs a = default;
        a.XTap = (nint)dwl * b;
        a.PixelStride = (nint)sw * b;
        a.Count = hi - lo;
        int pixelSlot = BlockedGeometry.PixelStrideSlot(sw), tapSlot = BlockedGeometry.PixelStrideSlot(dwl);
        for (int cb = begin; cb < end; cb++)
        {
            new Span<float>(acc, taps * b).Clear();
            for (int n = 0; n < g.N; n++)
            {
                float* xImg = x + (nint)(n * g.Cb + cb) * inPlane;
                float* dyImg = dy + (nint)(n * g.Cb + cb) * outPlane;
                for (int oz = 0; oz < od; oz++)
                for (int oy = 0; oy < oh; oy += 2)
                {
                    int nr = Math.Min(2, oh - oy);
                    rows.N0 = KernelRows.Forward(g, oz, oy, rows.X0, 0, (nint)iw * b, rows.W0, 0, (nint)kw * b);
                    rows.N1 = nr > 1 ? KernelRows.Forward(g, oz, oy + 1, rows.X1, 0, (nint)iw * b, rows.W1, 0, (nint)kw * b) : 0;
                    int merged = rows.Merge(ascending: true);
                    float* dy0 = dyImg + ((nint)oz * oh + oy) * ow * b;
                    float* dy1 = dy0 + (nint)ow * b;
                    if (hi > lo)
                    {
                        for (int j = 0; j < merged; j++)
                        {
                            nint o0 = rows.W[2 * j], o1 = rows.W[2 * j + 1];
                            int tr = o0 >= 0 && o1 >= 0 ? 2 : 1;
                            a.Dy0 = (o0 >= 0 ? dy0 : dy1) + (nint)lo * b;
                            a.Dy1 = dy1 + (nint)lo * b;
                            for (int k0 = 0; k0 < kw; k0 += TapChunk)
                            {
                                a.X = xImg + rows.X[j] + ((nint)lo * sw - pw + (nint)k0 * dwl) * b;
                                a.Acc0 = acc + (o0 >= 0 ? o0 : o1) + (nint)k0 * b;
                                a.Acc1 = acc + o1 + (nint)k0 * b;
                                tiles.Run(Math.Min(TapChunk, kw - k0), tr, pixelSlot, tapSlot, 0, ref a);
                            }
                        }
                    }
                    // The padding's border columns: each tap over the border pixels it reaches, after the row's tiles.
                    BorderColumns(g, xImg, dy0, rows.X0, rows.W0, rows.N0, acc, lo, hi);
                    if (nr > 1)
                    {
                        BorderColumns(g, xImg, dy1, rows.X1, rows.W1, rows.N1, acc, lo, hi);
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

    /// <summary>
    /// dW of a 2-D problem whose taps fit in registers (<see cref="ConvPlanner.DepthwiseWeightInRegisters"/>): per channel
    /// block one <see cref="DepthwiseWeightPlanesTile"/> call sums every image, row and column with each tap's
    /// accumulator in a register throughout, then the block's <c>[tap][lane]</c> sums are transposed into dW.
    /// </summary>
    private static void BackwardWeightPlanes(BlockedGeometry g, float* x, float* dy, float* dw, int part, int parts)
    {
        int b = TI.Lanes;
        int oh = g.Out[1], ow = g.Out[2], ih = g.In[1], iw = g.In[2];
        int kh = g.Ker[1], kw = g.Ker[2], taps = g.Taps;
        nint inPlane = (nint)ih * iw * b, outPlane = (nint)oh * ow * b;
        int begin = (int)((long)g.Cb * part / parts), end = (int)((long)g.Cb * (part + 1) / parts);
        float* acc = BlockedScratch.Floats((long)taps * b);
        var (lo, hi) = KernelRows.InteriorColumns(g);
        var tiles = default(TileCache<DepthwiseWeightPlanesTile, DepthwiseWeightPlanesArgs, TI, TV>);
        DepthwiseWeightPlanesArgs a = default;
        a.XImage = (nint)g.Cb * inPlane;
        a.DyImage = (nint)g.Cb * outPlane;
        a.Images = g.N;
        a.XRow = (nint)iw * b;
        a.DyRow = (nint)ow * b;
        a.OutRows = oh;
        a.OutCols = ow;
        a.InRows = ih;
        a.InCols = iw;
        a.StrideH = g.S[1];
        a.DilH = g.D[1];
        a.PadH = g.P[1];
        a.StrideW = g.S[2];
        a.DilW = g.D[2];
        a.PadW = g.P[2];
        a.PixelStride = (nint)g.S[2] * b;
        a.XTap = (nint)g.D[2] * b;
        a.Lo = lo;
        a.Hi = hi;
        a.Dw = acc;
        int pixelSlot = BlockedGeometry.PixelStrideSlot(g.S[2]), tapSlot = BlockedGeometry.PixelStrideSlot(g.D[2]);
        for (int cb = begin; cb < end; cb++)
        {
            a.X = x + (nint)cb * inPlane;
            a.Dy = dy + (nint)cb * outPlane;
            tiles.Run(kw, kh, pixelSlot, tapSlot, 0, ref a);
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

    /// <summary><c>acc[rowW[r] + kx] += x[rowX[r]][ox·s + kx·d − p]·dy[ox]</c> for the output columns outside <c>[lo, hi)</c>, taps and columns in order.</summary>
    private static void BorderColumns(BlockedGeometry g, float* xImg, float* dyRow, nint* rowX, nint* rowW, int rows, float* acc, int lo, int hi)
    {
        int b = TI.Lanes;
        int ow = g.Out[2], iw = g.In[2], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        for (int r = 0; r < rows; r++)
        {
            float* xRow = xImg + rowX[r];
            for (int kx = 0; kx < kw; kx++)
            {
                float* t = acc + rowW[r] + (nint)kx * b;
                TV sum = TI.Load(t);
                for (int ox = 0; ox < ow; ox++)
                {
                    if (ox == lo && hi > lo)
                    {
                        ox = hi - 1;
                        continue;
                    }
                    int ix = ox * sw + kx * dwl - pw;
                    if ((uint)ix < (uint)iw)
                    {
                        sum = TI.Fma(TI.Load(xRow + (nint)ix * b), TI.Load(dyRow + (nint)ox * b), sum);
                    }
                }
                TI.Store(t, sum);
            }
        }
    }
}
