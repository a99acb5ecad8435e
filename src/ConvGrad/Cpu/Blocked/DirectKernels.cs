using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>Per-thread scratch of the blocked kernels (pinned, grown on demand, reused across calls: no allocation per call once warm).</summary>
internal static unsafe class BlockedScratch
{
    [ThreadStatic] private static float[]? _floats;
    [ThreadStatic] private static nint[]? _offsets;

    /// <summary>At least <paramref name="count"/> floats, 64-byte aligned.</summary>
    public static float* Floats(long count)
    {
        if (_floats is null || _floats.Length < count + 16)
        {
            _floats = GC.AllocateUninitializedArray<float>((int)count + 16, pinned: true);
        }
        nint address = (nint)Unsafe.AsPointer(ref _floats[0]);
        return (float*)((address + 63) & ~(nint)63);
    }

    /// <summary>At least <paramref name="count"/> offsets.</summary>
    public static nint* Offsets(int count)
    {
        if (_offsets is null || _offsets.Length < count)
        {
            _offsets = GC.AllocateUninitializedArray<nint>(Math.Max(count, 64), pinned: true);
        }
        return (nint*)Unsafe.AsPointer(ref _offsets[0]);
    }
}

/// <summary>
/// The three passes on the channel-blocked layout, written once for both vector widths (<typeparamref name="TI"/> is
/// <see cref="Isa512"/> or <see cref="Isa256"/>, and the layout's block is its lane count).
/// <list type="bullet">
/// <item>Forward: per output row, tiles of up to <c>MaxPixels</c> pixels × 2 or 4 output blocks (<see cref="DirectTile"/>);
/// kernel rows outside the input are skipped; a tile whose columns reach the padding reads a zero-padded copy of just
/// the columns it needs (interior tiles read the tensor in place). No im2col.
/// <c>y[n][o][oz][oy][ox] = b[o] + Σ_(c, rz, ry, rx) w[o][c][rz][ry][rx] · x[n][c][oz·s+rz·d−p][oy·s+ry·d−p][ox·s+rx·d−p]</c>,
/// each element's terms in (input block, kernel row, width tap, lane) order. When a tile's weights exceed L2
/// (<see cref="BlockedGeometry.ReductionChunks"/>) the input blocks run in chunks, the partial sums kept in y and
/// continued exactly, so the bits do not change.</item>
/// <item>Backward-data: the same tile with the transposed weights, per dX row and width stride phase: only the
/// kernel taps that reach the phase, stepping through dY with stride 1, so no zero is inserted, nothing is scattered,
/// and dX positions that no output reads get exact zeros.</item>
/// <item>Backward-weight: a task owns (<see cref="BlockedGeometry.WeightOutBlocks"/> output blocks × 1 input block) of dW
/// for every tap and sums all images and rows in a fixed order, with the weights as register accumulators over several
/// rows; so dW is bitwise the same for any thread count.</item>
/// </list>
/// </summary>
internal static unsafe class DirectKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>
    /// y = x ⋆ w + b on blocked tensors (all pointers to blocked storage; <paramref name="bias"/> blocked or null). x's rows
    /// are <paramref name="xRow"/> pixels long with <paramref name="xLeft"/> zero columns before the first input column
    /// (a <see cref="PaddedColumns"/> copy; <c>0</c> and the input width for the tensor itself).
    /// </summary>
    public static void Forward(BlockedGeometry g, float* x, float* wf, float* bias, float* y, int part, int parts, int xLeft, int xRow)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int u = BlockedGeometry.TileWidth(ow, TI.MaxPixels);
        int step = BlockedGeometry.OutBlocksPerTile(u, TI.MaxPixels, g.KbG);
        int pairs = (g.KbG + step - 1) / step;
        int chunks = BlockedGeometry.ReductionChunks(step, g.CbG, g.Taps, b);
        long items = (long)g.N * g.G * pairs * od * oh, rowsPerPair = (long)g.N * od * oh;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        nint inPlane = (nint)id * ih * xRow * b, outPlane = (nint)od * oh * ow * b;
        nint wBlock = (nint)g.Taps * b * b;
        int span = (u - 1) * g.S[2] + (kw - 1) * g.D[2] + 1;
        nint* rowX = BlockedScratch.Offsets(3 * kd * kh);
        nint* rowW = rowX + kd * kh;
        float* stage = null;
        var tiles = default(TileCache<DirectTile, TileArgs, TI, TV>);
        TileArgs a = default;
        a.Taps = kw;
        a.XTap = (nint)g.D[2] * b;
        a.WTap = (nint)b * b;
        a.WIn = wBlock;
        a.WOut = g.CbG * wBlock;
        a.PixelStride = (nint)g.S[2] * b;
        a.YPix = b;
        a.YOut = outPlane;
        for (long run = begin; run < end;)
        {
            // With chunks, items run over (grp, pair, n, oz, oy): a run of one (grp, pair) sums each chunk of input blocks
            // over all its rows while that chunk's weights stay in L2, the partial sums waiting in y.
            long runEnd = chunks > 1 ? Math.Min(end, (run / rowsPerPair + 1) * rowsPerPair) : end;
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                int cb0 = g.CbG * chunk / chunks, ncb = g.CbG * (chunk + 1) / chunks - cb0;
                for (long item = run; item < runEnd; item++)
                {
                    long rest = item;
                    int oy = (int)(rest % oh); rest /= oh;
                    int oz = (int)(rest % od); rest /= od;
                    var (n, grp, pair) = ItemOrder(rest, g, pairs, chunks);
                    int ob = step * pair, noc = Math.Min(step, g.KbG - ob);
                    int rows = KernelRows.Forward(g, oz, oy, rowX, 0, (nint)xRow * b, rowW, 0, (nint)kw * b * b);
                    float* xImg = x + (nint)(n * g.Cb + grp * g.CbG + cb0) * inPlane;
                    a.W = wf + ((nint)(grp * g.KbG + ob) * g.CbG + cb0) * wBlock;
                    a.Init = bias == null || chunk > 0 ? null : bias + (nint)(grp * g.KbG + ob) * b;
                    a.Accumulate = chunk > 0;
                    float* yRow = y + (nint)(n * g.Kb + grp * g.KbG + ob) * outPlane + ((nint)oz * oh + oy) * ow * b;
                    for (int ox = 0; ox < ow; ox += u)
                    {
                        int pixels = Math.Min(u, ow - ox);
                        int c0 = ox * g.S[2] - g.P[2] + xLeft;
                        int hi = c0 + (pixels - 1) * g.S[2] + (kw - 1) * g.D[2];
                        a.Y = yRow + (nint)ox * b;
                        if (c0 >= 0 && hi < xRow)
                        {
                            a.X = xImg + (nint)c0 * b;
                            a.XIn = inPlane;
                            a.RowX = rowX;
                        }
                        else
                        {
                            if (stage == null)
                            {
                                stage = BlockedScratch.Floats((long)g.CbG * kd * kh * span * b);
                            }
                            Stage(xImg, inPlane, ncb, rowX, rows, c0, hi - c0 + 1, xRow, stage, rowX + 2 * kd * kh);
                            a.X = stage;
                            a.XIn = (nint)rows * (hi - c0 + 1) * b;
                            a.RowX = rowX + 2 * kd * kh;
                        }
                        a.InBlocks = ncb;
                        a.RowW = rowW;
                        a.Rows = rows;
                        RunTiles(ref tiles, pixels, g.S[2], noc, ref a);
                    }
                }
            }
            run = runEnd;
        }
    }

    /// <summary>
    /// The (image, group, pair of output blocks) of an item's rest after its rows: (n, grp, pair) order, or with
    /// <paramref name="chunks"/> &gt; 1 (grp, pair, n), so that a thread's range holds long runs of one pair's weights.
    /// </summary>
    private static (int N, int Group, int Pair) ItemOrder(long rest, BlockedGeometry g, int pairs, int chunks)
    {
        if (chunks > 1)
        {
            int n = (int)(rest % g.N);
            rest /= g.N;
            return (n, (int)(rest / pairs), (int)(rest % pairs));
        }
        int pair = (int)(rest % pairs);
        rest /= pairs;
        return ((int)(rest / g.G), (int)(rest % g.G), pair);
    }

    /// <summary>
    /// dx = ∂L/∂x on blocked tensors, by dX rows and width stride phases, with transposed weights <paramref name="wt"/>.
    /// dY's rows are <paramref name="yRow"/> pixels long with <paramref name="yLeft"/> zero columns before the first output
    /// column (a <see cref="PaddedColumns"/> copy; <c>0</c> and the output width for the tensor itself).
    /// </summary>
    public static void BackwardData(BlockedGeometry g, float* dy, float* wt, float* dx, int part, int parts, int yLeft, int yRow)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dw = g.D[2], pw = g.P[2];
        int u = BlockedGeometry.TileWidth((iw + sw - 1) / sw, TI.MaxPixels);
        int step = BlockedGeometry.OutBlocksPerTile(u, TI.MaxPixels, g.CbG);
        int pairs = (g.CbG + step - 1) / step;
        int chunks = BlockedGeometry.ReductionChunks(step, g.KbG, g.Taps, b);
        long items = (long)g.N * g.G * pairs * id * ih, rowsPerPair = (long)g.N * id * ih;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * yRow * b;
        nint wBlock = (nint)g.Taps * b * b;
        int gcd = BlockedGeometry.Gcd(sw, dw);
        int q = sw / gcd, delta = dw / gcd;
        int span = u + (kw - 1) * delta + 1;
        nint* rowX = BlockedScratch.Offsets(3 * kd * kh);
        nint* rowW = rowX + kd * kh;
        nint* stagedRowX = rowX + 2 * kd * kh;
        float* stage = null;
        var tiles = default(TileCache<DirectTile, TileArgs, TI, TV>);
        TileArgs a = default;
        a.XTap = -(nint)delta * b;
        a.WTap = (nint)q * b * b;
        a.WIn = wBlock;
        a.WOut = g.KbG * wBlock;
        a.YPix = (nint)sw * b;
        a.YOut = inPlane;
        a.RowW = rowW;
        for (long run = begin; run < end;)
        {
            // With chunks, a run of one (grp, pair of dX blocks) sums each chunk of dY blocks over all its rows (as forward).
            long runEnd = chunks > 1 ? Math.Min(end, (run / rowsPerPair + 1) * rowsPerPair) : end;
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                int kb0 = g.KbG * chunk / chunks, nkb = g.KbG * (chunk + 1) / chunks - kb0;
                a.InBlocks = nkb;
                a.Accumulate = chunk > 0;
                for (long item = run; item < runEnd; item++)
                {
                    long rest = item;
                    int iy = (int)(rest % ih); rest /= ih;
                    int iz = (int)(rest % id); rest /= id;
                    var (n, grp, pair) = ItemOrder(rest, g, pairs, chunks);
                    int cb = step * pair, nic = Math.Min(step, g.CbG - cb);
                    int rows = KernelRows.BackwardData(g, iz, iy, rowX, 0, (nint)yRow * b, rowW, 0, (nint)kw * b * b);
                    float* dyImg = dy + (nint)(n * g.Kb + grp * g.KbG + kb0) * outPlane;
                    float* wBase = wt + ((nint)(grp * g.CbG + cb) * g.KbG + kb0) * wBlock;
                    float* dxRow = dx + (nint)(n * g.Cb + grp * g.CbG + cb) * inPlane + ((nint)iz * ih + iy) * iw * b;
                    for (int rho = 0; rho < sw && rho < iw; rho++)
                    {
                        // Taps reaching this phase: kw ≡ kw0 (mod q); dY column of (t, m) is t + off0 − m·delta.
                        var (kw0, taps, off0) = KernelRows.WidthPhase(g, rho);
                        int len = (iw - rho + sw - 1) / sw;
                        a.Taps = taps;
                        a.W = wBase + (nint)Math.Max(kw0, 0) * b * b;
                        for (int t0 = 0; t0 < len; t0 += u)
                        {
                            int pixels = Math.Min(u, len - t0);
                            int c0 = t0 + off0 + yLeft;
                            int lo = c0 - (taps > 0 ? (taps - 1) * delta : 0), hi = c0 + pixels - 1;
                            a.Y = dxRow + ((nint)rho + (nint)t0 * sw) * b;
                            int activeRows = taps == 0 ? 0 : rows;
                            if (activeRows == 0 && chunk > 0)
                            {
                                continue; // the first chunk wrote this tile's zeros
                            }
                            if (activeRows == 0 || (lo >= 0 && hi < yRow))
                            {
                                a.X = dyImg + (nint)c0 * b;
                                a.XIn = outPlane;
                                a.RowX = rowX;
                            }
                            else
                            {
                                int width = hi - lo + 1;
                                if (stage == null)
                                {
                                    stage = BlockedScratch.Floats((long)g.KbG * kd * kh * span * b);
                                }
                                Stage(dyImg, outPlane, nkb, rowX, rows, lo, width, yRow, stage, stagedRowX);
                                a.X = stage + (nint)(c0 - lo) * b;
                                a.XIn = (nint)rows * width * b;
                                a.RowX = stagedRowX;
                            }
                            a.Rows = activeRows;
                            RunTiles(ref tiles, pixels, 1, nic, ref a);
                        }
                    }
                }
            }
            run = runEnd;
        }
    }

    /// <summary>Runs <paramref name="blocks"/> output blocks (1-4) of one tile at once (the tile holds pixels × blocks accumulators: <see cref="BlockedGeometry.OutBlocksPerTile"/>).</summary>
    private static void RunTiles(ref TileCache<DirectTile, TileArgs, TI, TV> tiles, int pixels, int pixelStride, int blocks, ref TileArgs a) =>
        tiles.Run(pixels, BlockedGeometry.PixelStrideSlot(pixelStride), blocks, 0, 0, ref a);

    /// <summary>
    /// Copies input columns <c>[lo, lo + width)</c> of each (block, kernel row) into <paramref name="stage"/>, zero outside
    /// <c>[0, rowLength)</c>; <paramref name="stagedRowX"/> gets each row's offset in the copy.
    /// </summary>
    internal static void Stage(float* src, nint plane, int blocks, nint* rowX, int rows, int lo, int width, int rowLength, float* stage, nint* stagedRowX)
    {
        int b = TI.Lanes;
        int first = Math.Max(lo, 0), last = Math.Min(lo + width, rowLength);
        for (int r = 0; r < rows; r++)
        {
            stagedRowX[r] = (nint)r * width * b;
        }
        float* dst = stage;
        for (int blk = 0; blk < blocks; blk++)
        {
            for (int r = 0; r < rows; r++, dst += width * b)
            {
                float* row = src + blk * plane + rowX[r];
                int before = Math.Min(width, first - lo);
                new Span<float>(dst, before * b).Clear();
                if (last > first)
                {
                    Buffer.MemoryCopy(row + (nint)first * b, dst + (nint)(first - lo) * b, (long)(last - first) * b * 4, (long)(last - first) * b * 4);
                }
                int done = before + Math.Max(0, last - first);
                new Span<float>(dst + (nint)done * b, (width - done) * b).Clear();
            }
        }
    }

    /// <summary>Tasks of backward-weight: (group, input block, <see cref="BlockedGeometry.WeightOutBlocks"/> output blocks).</summary>
    public static int WeightTasks(BlockedGeometry g) => g.G * ((g.KbG + g.WeightOutBlocks - 1) / g.WeightOutBlocks) * g.CbG;

    /// <summary>
    /// The dW blocks of backward-weight task <paramref name="task"/>: its group, input block, first output block and
    /// output block count. Tasks run (group, input block, output quad) with the output quad fastest, so a run of
    /// consecutive tasks (one thread's range, one cache group of <see cref="BlockedConvPlan"/>) shares each input block's x
    /// across every output quad and the dY of all quads across a few input blocks: both stay in L2 while the group sweeps a
    /// chunk of rows (with the input block fastest, a 1×1 layer of 64 input blocks streamed its whole x once per quad).
    /// </summary>
    public static (int Group, int InBlock, int OutBlock, int OutBlocks) WeightTaskBlocks(BlockedGeometry g, int task)
    {
        int ow4 = g.WeightOutBlocks;
        int quads = (g.KbG + ow4 - 1) / ow4;
        int quad = task % quads;
        int cb = task / quads % g.CbG;
        int grp = task / quads / g.CbG;
        int ob = ow4 * quad;
        return (grp, cb, ob, Math.Min(ow4, g.KbG - ob));
    }

    /// <summary>
    /// Input lanes per backward-weight tile call for <paramref name="blocks"/> output blocks and <paramref name="rows"/>
    /// kernel rows: as many as keep the accumulators (rows × lanes × blocks) within 24 of AVX-512's 32 registers (12 of
    /// AVX2's 16: 3 blocks × 4 lanes, the other 4 registers the 3 dY vectors and the broadcast), the block's lanes split into
    /// even chunks. More output blocks per call means fewer loads per FMA: 4 × 6 needs 4 dY loads and 6 broadcasts for 24
    /// FMAs where 2 × 8 needs 10 for 16.
    /// </summary>
    public static int WeightLaneChunks(int blocks, int rows = 1)
    {
        int budget = TI.Lanes == 16 ? 24 : 12;
        int perCall = Math.Min(14, Math.Max(1, budget / (blocks * rows)));
        return (TI.Lanes + perCall - 1) / perCall;
    }

    /// <summary>
    /// Kernel rows one backward-weight tile call sums at once for <paramref name="blocks"/> output blocks: with one output
    /// block (16- and 32-channel layers) every FMA needs its own broadcast of x, so up to 3 kernel rows share each dY
    /// vector load (3 rows × 8 lanes: 25 loads per 24 FMAs instead of 9 per 8); with more blocks, or at AVX2, one.
    /// </summary>
    public static int WeightKernelRows(BlockedGeometry g, int blocks) => TI.Lanes == 16 && blocks == 1 ? Math.Min(3, g.Ker[1]) : 1;

    /// <summary>
    /// The dW partial of task <paramref name="task"/> over output rows <c>[row0, row1)</c> (rows run over n, depth, height in
    /// order) into <paramref name="acc"/> <c>[o][tap][c lane][k lane]</c> (the task's own output blocks only), which it first zeroes when <paramref name="clear"/>
    /// (else it continues the sum: the operations are the same whatever the row ranges, so the bits are too).
    /// <c>dW[o][rz,ry,rx][c][k] += Σ_(n,oz,oy,ox) x[n][c][oz·s+rz·d−p][oy·s+ry·d−p][ox·s+rx·d−p] · dY[n][o·B+k][oz][oy][ox]</c>,
    /// each element summed over its valid (n, oz, oy, ox) in that order. Per (n, oz) plane and tap, one tile call keeps a
    /// lane chunk × output blocks of dW in registers over as many output rows (lines) as fit <see cref="L1Pixels"/>, so short
    /// rows (7 pixels of a 7×7 layer) do not reload the accumulators per row; a long row (a flattened 1×1 image) is cut into
    /// pieces of that size, so the dY and x a lane chunk reads are still in L1 for the next chunk. With one output block the
    /// call also takes up to 3 kernel rows (<see cref="WeightKernelRows"/>) over the output rows where all of them are
    /// inside the input; a row's output rows at the border run alone, before and after, so every element still sums in
    /// (oy, ox) order.
    /// </summary>
    public static void BackwardWeightTask(BlockedGeometry g, float* x, float* dy, int task, long row0, long row1, float* acc, bool clear = true)
    {
        int b = TI.Lanes;
        var (grp, cb, ob, noc) = WeightTaskBlocks(g, task);
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dw = g.D[2], pw = g.P[2];
        int groupRows = WeightKernelRows(g, noc);
        int budget1 = L1Pixels(noc, sw), chunks1 = WeightLaneChunks(noc);
        int budgetG = L1Pixels(noc + (groupRows - 1) * sw, sw), chunksG = WeightLaneChunks(noc, groupRows);
        nint inPlane = (nint)id * ih * iw * b, outPlane = (nint)od * oh * ow * b;
        nint accOut = (nint)g.Taps * b * b;
        if (clear)
        {
            new Span<float>(acc, (int)(noc * accOut)).Clear();
        }
        var tiles = default(TileCache<WeightTile, WeightTileArgs, TI, TV>);
        WeightTileArgs w = default;
        w.AccOut = accOut;
        w.AccRow = (nint)kw * b * b;
        w.DyOut = outPlane;
        w.PixelStride = (nint)sw * b;
        w.DyLine = (nint)ow * b;
        w.XLine = (nint)g.S[1] * iw * b;
        int* lo = stackalloc int[3];
        int* hi = stackalloc int[3];
        for (long row = row0; row < row1;)
        {
            // The rows of one (n, oz) plane in range: [oy, oyEnd).
            int oy = (int)(row % oh);
            int oz = (int)(row / oh % od);
            int n = (int)(row / oh / od);
            int oyEnd = (int)Math.Min(oh, oy + (row1 - row));
            float* dyPlane = dy + (nint)(n * g.Kb + grp * g.KbG + ob) * outPlane + (nint)oz * oh * ow * b;
            float* xImg = x + (nint)(n * g.Cb + grp * g.CbG + cb) * inPlane;
            for (int rz = 0; rz < kd; rz++)
            {
                int iz = oz * g.S[0] + rz * g.D[0] - g.P[0];
                if ((uint)iz >= (uint)id)
                {
                    continue;
                }
                float* xDepth = xImg + (nint)iz * ih * iw * b;
                for (int ry0 = 0; ry0 < kh; ry0 += groupRows)
                {
                    // Each kernel row's output rows in range, and those where every row of the group is inside the input.
                    int nr = Math.Min(groupRows, kh - ry0);
                    int glo = oy, ghi = oyEnd;
                    for (int r = 0; r < nr; r++)
                    {
                        var (ylo, yhi) = KernelRows.OutputRange(g, 1, ry0 + r);
                        lo[r] = Math.Max(ylo, oy);
                        hi[r] = Math.Min(yhi, oyEnd);
                        glo = Math.Max(glo, lo[r]);
                        ghi = Math.Min(ghi, hi[r]);
                    }
                    if (nr == 1 || glo >= ghi)
                    {
                        glo = ghi = int.MaxValue;
                    }
                    for (int rx = 0; rx < kw; rx++)
                    {
                        var (xlo, xhi) = KernelRows.WidthRange(g, rx);
                        if (xhi <= xlo)
                        {
                            continue;
                        }
                        float* accTap = acc + ((nint)(rz * kh + ry0) * kw + rx) * b * b;
                        nint xCol = ((nint)xlo * sw + rx * dw - pw) * b;
                        for (int r = 0; r < nr; r++)
                        {
                            // Alone: the row's output rows below the group's.
                            WeightRows(g, ref tiles, ref w, accTap + r * w.AccRow, dyPlane, xDepth, xCol, ry0 + r, 1, noc, budget1, chunks1, xlo, xhi, lo[r], Math.Min(hi[r], glo));
                        }
                        if (glo < ghi)
                        {
                            WeightRows(g, ref tiles, ref w, accTap, dyPlane, xDepth, xCol, ry0, nr, noc, nr == groupRows ? budgetG : L1Pixels(noc + (nr - 1) * sw, sw), nr == groupRows ? chunksG : WeightLaneChunks(noc, nr), xlo, xhi, glo, ghi);
                        }
                        for (int r = 0; r < nr; r++)
                        {
                            // Alone: the row's output rows above the group's.
                            WeightRows(g, ref tiles, ref w, accTap + r * w.AccRow, dyPlane, xDepth, xCol, ry0 + r, 1, noc, budget1, chunks1, xlo, xhi, Math.Max(lo[r], ghi == int.MaxValue ? hi[r] : ghi), hi[r]);
                        }
                    }
                }
            }
            row += oyEnd - oy;
        }
    }

    /// <summary>
    /// One width tap's dW over output rows <c>[y0, y1)</c> of a plane and kernel rows <c>[ry, ry + rows)</c>: tile calls of
    /// <paramref name="laneChunks"/> lane chunks × <paramref name="blocks"/> output blocks over as many lines as fit
    /// <paramref name="budget"/> pixels (<see cref="L1Pixels"/>; a row longer than that in even pieces, one line per call, so
    /// the sum stays in pixel order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightRows(BlockedGeometry g, ref TileCache<WeightTile, WeightTileArgs, TI, TV> tiles, ref WeightTileArgs w,
        float* accTap, float* dyPlane, float* xDepth, nint xCol, int ry, int rows, int blocks, int budget, int laneChunks, int xlo, int xhi, int y0, int y1)
    {
        if (y1 <= y0)
        {
            return;
        }
        int b = TI.Lanes, iw = g.In[2], ow = g.Out[2];
        int count = xhi - xlo;
        int linesPerCall = Math.Max(1, budget / count);
        int pieces = (count + budget - 1) / budget;
        int piece = (count + pieces - 1) / pieces;
        nint rowStep = (nint)g.D[1] * iw * b;
        for (int y = y0; y < y1; y += linesPerCall)
        {
            w.Lines = Math.Min(linesPerCall, y1 - y);
            int iy = y * g.S[1] + ry * g.D[1] - g.P[1];
            for (int p0 = 0; p0 < count; p0 += piece)
            {
                w.Count = Math.Min(piece, count - p0);
                w.Dy = dyPlane + ((nint)y * ow + xlo + p0) * b;
                float* xs = xDepth + (nint)iy * iw * b + xCol + (nint)p0 * g.S[2] * b;
                for (int chunk = 0; chunk < laneChunks; chunk++)
                {
                    int h0 = b * chunk / laneChunks, h1 = b * (chunk + 1) / laneChunks;
                    // The tile's taps are the chunk's input lanes (one float apart); its pixels are sw blocks apart; its
                    // rows are kernel rows (dilation rows of x apart, accumulators AccRow apart).
                    w.X0 = xs + h0;
                    w.X1 = xs + rowStep + h0;
                    w.X2 = xs + 2 * rowStep + h0;
                    w.Acc = accTap + (nint)h0 * b;
                    tiles.Run(rows, h1 - h0, 1, 0, blocks, ref w);
                }
            }
        }
    }

    /// <summary>
    /// Pixels one backward-weight tile call sums over: as many as keep the dY of <paramref name="blocks"/> output blocks and
    /// the input they pair with (pixels <paramref name="stride"/> apart) within <see cref="L1Bytes"/>, so the next lane
    /// chunk's call reads them from L1.
    /// </summary>
    public static int L1Pixels(int blocks, int stride) => Math.Max(1, L1Bytes / ((blocks + stride) * TI.Lanes * sizeof(float)));

    /// <summary>The bytes of dY and x a backward-weight tile call may span (three quarters of a 32 KiB L1 data cache).</summary>
    private const int L1Bytes = 24 * 1024;

    /// <summary>
    /// Writes task <paramref name="task"/>'s blocked accumulator <c>[o][tap][c lane][k lane]</c> into dW <c>[K, C/G, taps]</c>
    /// (only real channels): <c>dW[(ob+o)·B + k][cb·B + c][t] = acc[o][t][c][k]</c>, a transpose per output block. A whole
    /// 1×1 block is four (AVX2: one) 8×8 register transposes straight into dW's rows; with more taps each dW row of an
    /// output channel (its <c>c·taps + t</c> run, contiguous) is filled 8 at a time by a gather through a table of
    /// accumulator offsets. The scalar element-by-element copy (strided reads, one store each) was 11 % of rn50-1x1-14's
    /// dW and 17 % of rn50-3x3-7's. Partial blocks (channel counts not a multiple of the block) keep that copy.
    /// </summary>
    public static void StoreWeights(BlockedGeometry g, int task, float* acc, float* dw)
    {
        int b = TI.Lanes;
        var (grp, cb, ob, noc) = WeightTaskBlocks(g, task);
        int taps = g.Taps;
        int cn = Math.Min(b, g.Cg - cb * b);
        nint blockLength = (nint)taps * b * b, rowLength = (nint)g.Cg * taps;
        bool vector = Avx2.IsSupported && cn == b && b * taps <= MaxGatherRow;
        int* offsets = stackalloc int[vector && taps > 1 ? b * taps : 1];
        if (vector && taps > 1)
        {
            for (int j = 0; j < b * taps; j++)
            {
                offsets[j] = (j % taps) * b * b + j / taps * b;
            }
        }
        for (int o = 0; o < noc; o++)
        {
            int kn = Math.Min(b, g.Kg - (ob + o) * b);
            float* block = acc + o * blockLength;
            float* rows = dw + (nint)(grp * g.Kg + (ob + o) * b) * rowLength + (nint)cb * b * taps;
            if (vector && taps == 1 && kn == b)
            {
                for (int c0 = 0; c0 < b; c0 += 8)
                {
                    for (int k0 = 0; k0 < b; k0 += 8)
                    {
                        // dst[k·Cg + c] = acc[c·B + k] on the 8×8 square at (c0, k0).
                        Transposes.Transpose8x8(block + c0 * b + k0, b, rows + k0 * rowLength + c0, rowLength);
                    }
                }
                continue;
            }
            for (int k = 0; k < kn; k++)
            {
                float* dst = rows + k * rowLength;
                if (vector && taps > 1)
                {
                    int j = 0;
                    for (; j + 8 <= b * taps; j += 8)
                    {
                        Avx.Store(dst + j, Avx2.GatherVector256(block + k, Avx.LoadVector256(offsets + j), 4));
                    }
                    for (; j < b * taps; j++)
                    {
                        dst[j] = block[k + offsets[j]];
                    }
                    continue;
                }
                for (int c = 0; c < cn; c++)
                {
                    float* src = block + c * b + k;
                    for (int t = 0; t < taps; t++)
                    {
                        dst[c * taps + t] = src[(nint)t * b * b];
                    }
                }
            }
        }
    }

    /// <summary>The longest dW row run (block lanes × taps) <see cref="StoreWeights"/> gathers through a stack table.</summary>
    private const int MaxGatherRow = 4096;
}
