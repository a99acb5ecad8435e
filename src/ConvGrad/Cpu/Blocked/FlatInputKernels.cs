using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The shape rules of the first-layer ("flat input") kernels, which read a plain NCHW input of 1-3 channels instead of
/// padding it to a whole channel block (oneDNN's "flat" source): one group and at most <see cref="MaxChannels"/> input
/// channels. Forward writes the blocked output; backward-weight reads the blocked dY.
/// </summary>
internal static class FlatInput
{
    /// <summary>The most input channels the flat kernels take (a first layer: gray, RGB).</summary>
    public const int MaxChannels = 3;

    /// <summary>With fewer backward-weight tasks than this, each task's rows split into fixed chunks (a shape-only rule).</summary>
    public const int MinWeightTasks = 8;

    /// <summary>
    /// Most floats of a zero-padded copy of one image (all channels and rows) a thread stages at once (4 MiB); larger
    /// images are staged per output row. Settable only so tests can reach both paths; read once per pass.
    /// </summary>
    internal static long ImageStageFloats = 1 << 20;

    /// <summary>Whether the flat-input kernels compute <paramref name="p"/>: one group and 1-3 input channels.</summary>
    public static bool Applies(ConvProblem p) => p.Groups == 1 && p.C <= MaxChannels;

    /// <summary>
    /// The backward-weight register tile for <paramref name="g"/>: output blocks (4, 2 or 1, at most the layer's), kernel
    /// rows (all of a kernel of at most 3 rows, else 1) and width taps per call (all, or the row split into even chunks),
    /// the one with the fewest loads per FMA whose accumulators, dY vectors and one broadcast fit the tier's registers.
    /// A function of the shape only; the sums are the same whatever the tile, so dW's bits do not depend on it.
    /// </summary>
    public static (int Blocks, int Rows, int Taps) WeightTile(BlockedGeometry g)
    {
        int registers = g.B == 16 ? 32 : 16;
        int kh = g.Ker[1], kw = g.Ker[2];
        var best = (Blocks: 1, Rows: 1, Taps: 1);
        double bestCost = double.MaxValue;
        for (int n = g.Kb >= 4 ? 4 : g.Kb >= 2 ? 2 : 1; n >= 1; n /= 2)
        {
            int accumulators = registers - n - 1;
            if (kh > 1 && kh <= 3 && kw <= 14 && kh * kw * n <= accumulators)
            {
                double all = (double)(n + kh * kw) / (kh * kw * n);
                if (all < bestCost - 1e-9)
                {
                    best = (n, kh, kw);
                    bestCost = all;
                }
            }
            int max = Math.Min(14, accumulators / n);
            int chunks = (kw + max - 1) / max;
            double cost = (double)(n * chunks + kw) / (kw * n);
            if (cost < bestCost - 1e-9)
            {
                best = (n, 1, (kw + chunks - 1) / chunks);
                bestCost = cost;
            }
        }
        return best;
    }

    /// <summary>Floats of one thread's zero-padded input copy: none in place, a whole image when it fits, else one output row's kernel rows.</summary>
    private static long Stage(BlockedGeometry g, long span)
    {
        long image = (long)g.C * g.In[0] * g.In[1] * span;
        return g.P[2] == 0 && span <= g.In[2] ? 0 : image <= ImageStageFloats ? image : (long)g.C * g.Ker[0] * g.Ker[1] * span;
    }

    /// <summary>Backward-weight tasks: (group of output blocks, input channel, kernel depth row, group of kernel height rows).</summary>
    public static int WeightTasks(BlockedGeometry g)
    {
        var (blocks, rows, _) = WeightTile(g);
        return (g.Kb + blocks - 1) / blocks * g.C * g.Ker[0] * (g.Ker[1] / rows);
    }

    /// <summary>
    /// Fixed chunks of the output rows each dW task is split into: 1 when there are at least <see cref="MinWeightTasks"/>
    /// tasks, else enough for that many units, the chunks' partial sums added in chunk order. A function of the shape only.
    /// </summary>
    public static int WeightChunks(BlockedGeometry g)
    {
        int tasks = WeightTasks(g);
        long rows = (long)g.N * g.Out[0] * g.Out[1];
        return tasks >= MinWeightTasks ? 1 : (int)Math.Max(1, Math.Min(rows, (MinWeightTasks + tasks - 1) / tasks));
    }

    /// <summary>Floats of one dW task's accumulator (blocks × kernel rows × width taps × lanes).</summary>
    public static int AccumulatorLength(BlockedGeometry g)
    {
        var (blocks, rows, _) = WeightTile(g);
        return blocks * rows * g.Ker[2] * g.B;
    }

    /// <summary>
    /// Scratch bytes of one first-layer pass with up to <paramref name="threads"/> threads: the reblocked weights and bias
    /// (forward) and per thread a zero-padded copy of the rows it reads, plus the accumulators of every dW task.
    /// </summary>
    public static long WorkspaceBytes(BlockedGeometry g, ConvPass pass, int threads)
    {
        int blockSize = g.B;
        long span = (long)(g.Out[2] - 1) * g.S[2] + (g.Ker[2] - 1) * g.D[2] + 1;
        long floats = pass == ConvPass.BackwardWeight
            ? (long)WeightTasks(g) * WeightChunks(g) * AccumulatorLength(g) + Math.Max(1, threads) * (Stage(g, span) + span)
            : (long)g.Kb * g.C * g.Taps * blockSize + g.Kb * blockSize + Math.Max(1, threads) * Stage(g, span);
        return floats * sizeof(float);
    }

}

/// <summary>
/// The first-layer kernels for both vector widths (<typeparamref name="TI"/> is <see cref="Isa512"/> or
/// <see cref="Isa256"/>): they read the NCHW input with its 1-3 channels as it is, so no lane of a padded channel block
/// is multiplied by zero.
/// <list type="bullet">
/// <item>Forward: per output row, tiles of up to <c>MaxPixels</c> pixels × 2 or 4 output blocks (<see cref="FlatTile"/>);
/// per (channel, kernel row, width tap) one weight vector per block and one broadcast input value per pixel. Rows
/// that reach the width padding are read from a zero-padded copy, made once per image (or per output row for images
/// over <see cref="FlatInput.ImageStageFloats"/>).</item>
/// <item>Backward-weight: a task owns dW of (up to 4 output blocks, one input channel, one kernel row, or all rows of a
/// kernel of at most 3) and sums every image and output row in order, the rows × taps × blocks in registers along each
/// row; per output row the input rows are staged once for all of a thread's tasks. With few tasks the rows split into
/// fixed chunks whose sums are added in order. dW is bitwise the same for any thread count.</item>
/// </list>
/// </summary>
internal static unsafe class FlatInputKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>Pixels × output blocks of the forward tile.</summary>
    public static (int Pixels, int Blocks) ForwardTile(BlockedGeometry g)
    {
        int u = BlockedGeometry.TileWidth(g.Out[2], TI.MaxPixels);
        return (u, Math.Min(g.Kb, BlockedGeometry.OutBlocksPerTile(u, TI.MaxPixels, g.Kb)));
    }

    /// <summary>
    /// y = x ⋆ w + b: <paramref name="x"/> plain NCHW (<c>[N, C, D, H, W]</c> with C ≤ 3), <paramref name="wf"/> from
    /// <see cref="BlockedWeights.Flat"/>, <paramref name="bias"/> blocked or null, <paramref name="y"/> blocked.
    /// Part <paramref name="part"/> of <paramref name="parts"/> takes a contiguous range of (output row, output-block group).
    /// </summary>
    public static void Forward(BlockedGeometry g, float* x, float* wf, float* bias, float* y, int part, int parts)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dw = g.D[2], pw = g.P[2];
        int u = BlockedGeometry.TileWidth(ow, TI.MaxPixels);
        int step = BlockedGeometry.OutBlocksPerTile(u, TI.MaxPixels, g.Kb);
        int groups = (g.Kb + step - 1) / step;
        long items = (long)g.N * od * oh * groups;
        long begin = items * part / parts, end = items * (part + 1) / parts;
        int span = (ow - 1) * sw + (kw - 1) * dw + 1;
        bool inPlace = pw == 0 && span <= iw;
        bool wholeImage = !inPlace && (long)g.C * id * ih * span <= FlatInput.ImageStageFloats;
        int kernelRows = g.C * kd * kh;
        nint* rowX = BlockedScratch.Offsets(2 * kernelRows);
        nint* rowW = rowX + kernelRows;
        float* stage = inPlace ? null : BlockedScratch.Floats(wholeImage ? (long)g.C * id * ih * span : (long)kernelRows * span);
        int imageDone = -1;
        nint outPlane = (nint)od * oh * ow * b;
        var tiles = default(TileCache<FlatTile, TileArgs, TI, TV>);
        TileArgs a = default;
        a.Taps = kw;
        a.XTap = dw;
        a.YPix = b;
        a.WOut = (nint)g.C * g.Taps * b;
        a.PixelStride = sw;
        a.YOut = outPlane;
        a.RowX = rowX;
        a.RowW = rowW;
        float* xBase = inPlace ? x : stage;
        int stride = BlockedGeometry.PixelStrideSlot(sw);
        long rowDone = -1;
        int rows = 0;
        for (long item = begin; item < end; item++)
        {
            int grp = (int)(item % groups);
            long row = item / groups;
            int oy = (int)(row % oh);
            int oz = (int)(row / oh % od);
            int n = (int)(row / oh / od);
            if (wholeImage && n != imageDone)
            {
                StageImage(g, x, n, span, stage);
                imageDone = n;
            }
            if (row != rowDone)
            {
                rows = InputRows(g, x, n, oz, oy, inPlace, wholeImage, span, stage, rowX, rowW);
                rowDone = row;
            }
            int ob = grp * step, noc = Math.Min(step, g.Kb - ob);
            a.Rows = rows;
            a.W = wf + ob * a.WOut;
            a.Init = bias == null ? null : bias + (nint)ob * b;
            float* yRow = y + (nint)(n * g.Kb + ob) * outPlane + ((nint)oz * oh + oy) * ow * b;
            for (int ox = 0; ox < ow; ox += u)
            {
                int pixels = Math.Min(u, ow - ox);
                a.X = xBase + (nint)ox * sw;
                a.Y = yRow + (nint)ox * b;
                if (noc == 3)
                {
                    tiles.Run(pixels, stride, 2, 0, 0, ref a);
                    float* w = a.W, init = a.Init, yy = a.Y;
                    a.W = w + 2 * a.WOut;
                    a.Init = init == null ? null : init + 2 * b;
                    a.Y = yy + 2 * outPlane;
                    tiles.Run(pixels, stride, 1, 0, 0, ref a);
                    a.W = w;
                    a.Init = init;
                }
                else
                {
                    tiles.Run(pixels, stride, noc, 0, 0, ref a);
                }
            }
        }
    }

    /// <summary>
    /// The kernel rows (channel, depth tap, height tap) of output row (<paramref name="n"/>, <paramref name="oz"/>,
    /// <paramref name="oy"/>) that fall inside the input: each row's input offset (from <paramref name="x"/>, or in
    /// <paramref name="stage"/> where the columns <c>[−pw, span − pw)</c> are copied with zeros outside the row) and weight
    /// offset. Returns how many.
    /// </summary>
    private static int InputRows(BlockedGeometry g, float* x, int n, int oz, int oy, bool inPlace, bool wholeImage, int span, float* stage, nint* rowX, nint* rowW)
    {
        int b = TI.Lanes;
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int rows = 0;
        for (int c = 0; c < g.C; c++)
        {
            // In place: the row of x; a whole staged image: the row of the copy; else the row of x, staged below.
            nint xBase = wholeImage ? (nint)c * id * ih * span : (nint)(n * g.C + c) * id * ih * iw;
            nint xScale = wholeImage ? span : iw;
            int found = KernelRows.Forward(g, oz, oy, rowX + rows, xBase, xScale, rowW + rows, (nint)c * g.Taps * b, (nint)g.Ker[2] * b);
            if (!inPlace && !wholeImage)
            {
                for (int r = rows; r < rows + found; r++)
                {
                    StageRow(x + rowX[r], iw, g.P[2], span, stage + (nint)r * span);
                    rowX[r] = (nint)r * span;
                }
            }
            rows += found;
        }
        return rows;
    }

    /// <summary>Copies every row of image <paramref name="n"/> (all channels) into <paramref name="stage"/> <c>[C, D, H, span]</c>, zero-padded in width as <see cref="StageRow"/>.</summary>
    private static void StageImage(BlockedGeometry g, float* x, int n, int span, float* stage)
    {
        int iw = g.In[2];
        long rows = (long)g.C * g.In[0] * g.In[1];
        float* src = x + (long)n * rows * iw;
        for (long r = 0; r < rows; r++)
        {
            StageRow(src + r * iw, iw, g.P[2], span, stage + r * span);
        }
    }

    /// <summary><c>dst[j] = src[j − pad]</c> for <c>j &lt; span</c>, zero where <c>j − pad</c> is outside <c>[0, length)</c>.</summary>
    private static void StageRow(float* src, int length, int pad, int span, float* dst)
    {
        int first = Math.Min(span, Math.Max(0, pad));
        int last = Math.Min(span, length + pad);
        new Span<float>(dst, first).Clear();
        if (last > first)
        {
            Buffer.MemoryCopy(src + (first - pad), dst + first, (long)(last - first) * 4, (long)(last - first) * 4);
        }
        int done = Math.Max(first, last);
        new Span<float>(dst + done, span - done).Clear();
    }

    /// <summary>
    /// dW units <c>[unit0, unit1)</c> from NCHW <paramref name="x"/> and blocked <paramref name="dy"/>: unit
    /// <c>chunk·tasks + task</c> sums task <c>task</c> (see <see cref="FlatInput.WeightTasks"/>) over chunk <c>chunk</c> of the
    /// output rows, in row order. With one chunk each task's sum goes straight into <paramref name="dw"/> <c>[K, C, k...]</c>;
    /// else into <paramref name="partials"/> <c>[task][chunk]</c>, added in chunk order by <see cref="ReduceWeights"/>. Per
    /// output row the input rows are staged once and read by every task of the range, so the bits of a unit never depend
    /// on the range it ran in. With <paramref name="dyNchw"/>, <paramref name="dy"/> is plain NCHW (the public API's): per
    /// output row the output blocks of the range's tasks are gathered into a blocked copy of that row (zero past K), read
    /// by the same tiles, so the sums and their bits are those of a blocked dY, with no whole blocked dY in memory. From a
    /// blocked dY, consecutive interior rows of a plane (every kernel row inside the input, x read in place or from the staged
    /// image) run as the lines of one tile call, the accumulators kept in registers across them and each element still
    /// summed in row order: a 28-pixel row of 18 accumulators spent as much on the call and the per-row set-up as on its FMAs.
    /// </summary>
    public static void BackwardWeight(BlockedGeometry g, float* x, float* dy, float* dw, float* partials, int unit0, int unit1, bool dyNchw = false)
    {
        if (unit1 <= unit0)
        {
            return;
        }
        int b = TI.Lanes;
        var (tn, tr, tt) = FlatInput.WeightTile(g);
        int tasks = FlatInput.WeightTasks(g), chunks = FlatInput.WeightChunks(g);
        int accLength = FlatInput.AccumulatorLength(g);
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        int span = (ow - 1) * sw + (kw - 1) * dwl + 1;
        bool inPlace = pw == 0 && span <= iw;
        int kernelRows = g.C * kd * kh;
        bool wholeImage = !inPlace && (long)g.C * id * ih * span <= FlatInput.ImageStageFloats;
        long stageFloats = inPlace ? 0 : wholeImage ? (long)g.C * id * ih * span : (long)kernelRows * span;
        int imageDone = -1;
        int localTasks = chunks == 1 ? unit1 - unit0 : 0;
        // The output blocks the range's tasks read (a task's first block grows with its index), gathered per row when dY is NCHW.
        // A range over more than one chunk of rows holds tasks from both ends, so it reads every block.
        bool oneChunk = unit0 / tasks == (unit1 - 1) / tasks;
        int kb0 = oneChunk ? WeightTaskBlock(g, unit0 % tasks) : 0;
        int kb1 = oneChunk ? Math.Min(g.Kb, WeightTaskBlock(g, (unit1 - 1) % tasks) + tn) : g.Kb;
        long rowFloats = dyNchw ? (long)(kb1 - kb0) * ow * b : 0;
        float* local = BlockedScratch.Floats((long)localTasks * accLength + span + stageFloats + rowFloats);
        float* zero = local + (long)localTasks * accLength;
        float* stage = zero + span;
        float* dyBlocked = stage + stageFloats;
        new Span<float>(zero, span).Clear();
        if (dyNchw)
        {
            // Lanes past K stay zero; the gather writes only real channels.
            new Span<float>(dyBlocked, (int)rowFloats).Clear();
        }
        nint* rowPtr = BlockedScratch.Offsets(kernelRows + 2 * kd * kh);
        nint* validX = rowPtr + kernelRows, validW = validX + kd * kh;
        nint outPlane = (nint)od * oh * ow * b;
        nint accOut = (nint)tr * kw * b;
        long rows = (long)g.N * od * oh;
        // Block stride of the dY the tiles read: the blocked tensor's plane, or the gathered row's.
        nint dyOut = dyNchw ? (nint)ow * b : outPlane;
        long planeNchw = (long)od * oh * ow;
        // The tile's taps are width taps (dilation apart: compiled in when 1), its pixels the stride apart.
        var weightTiles = default(TileCache<WeightTile, WeightTileArgs, TI, TV>);
        WeightTileArgs w = default;
        w.AccOut = accOut;
        w.DyOut = dyOut;
        w.XTap = dwl;
        w.PixelStride = sw;
        w.Count = ow;
        w.DyLine = (nint)ow * b;
        w.XLine = (nint)g.S[1] * (inPlace ? iw : span);
        int tapSlot = dwl == 1 ? 1 : 0, strideSlot = BlockedGeometry.PixelStrideSlot(sw);
        // Output rows that one tile call may sum as lines (the accumulators kept in registers across them): consecutive
        // rows of a plane whose kernel rows are all inside the input, read in place or from the staged image (a fixed
        // row step), from a blocked dY, as many as keep the lines' dY within L1.
        int maxLines = inPlace || wholeImage ? Math.Max(1, LineBytes / (ow * tn * b * sizeof(float))) : 1;
        int yLo = (g.P[1] + g.S[1] - 1) / g.S[1];
        int lastTop = ih - 1 + g.P[1] - (kh - 1) * g.D[1];
        int yHi = lastTop < 0 ? 0 : Math.Min(oh, lastTop / g.S[1] + 1);
        int found = 0;
        for (int unit = unit0; unit < unit1; unit++)
        {
            new Span<float>(Accumulator(unit), accLength).Clear();
        }
        for (int chunk = unit0 / tasks; chunk <= (unit1 - 1) / tasks; chunk++)
        {
            int task0 = Math.Max(unit0 - chunk * tasks, 0), task1 = Math.Min(unit1 - chunk * tasks, tasks);
            long r0 = rows * chunk / chunks, r1 = rows * (chunk + 1) / chunks;
            for (long row = r0; row < r1;)
            {
                int oy = (int)(row % oh);
                int oz = (int)(row / oh % od);
                int n = (int)(row / oh / od);
                int lines = dyNchw || oy < yLo || oy >= yHi ? 1 : (int)Math.Min(Math.Min(maxLines, yHi - oy), r1 - row);
                if (wholeImage && n != imageDone)
                {
                    StageImage(g, x, n, span, stage);
                    imageDone = n;
                }
                if (dyNchw)
                {
                    float* src = dy + (n * (long)g.K + (long)kb0 * b) * planeNchw + ((long)oz * oh + oy) * ow;
                    for (int kb = kb0; kb < kb1; kb++)
                    {
                        BlockedLayout.Gather(src + (long)(kb - kb0) * b * planeNchw, planeNchw, dyBlocked + (nint)(kb - kb0) * ow * b, ow, b, Math.Min(b, g.K - kb * b));
                    }
                }
                for (int c = 0; c < g.C; c++)
                {
                    // rowPtr[(c·kd + rz)·kh + ry]: the input row of that kernel row, or the zero row outside the input.
                    nint* ptr = rowPtr + c * kd * kh;
                    for (int r = 0; r < kd * kh; r++)
                    {
                        ptr[r] = (nint)zero;
                    }
                    found = KernelRows.Forward(g, oz, oy, validX, 0, 1, validW, 0, 1);
                    for (int v = 0; v < found; v++)
                    {
                        nint inRow = validX[v];
                        float* src = x + ((nint)(n * g.C + c) * id * ih + inRow) * iw;
                        if (inPlace)
                        {
                            ptr[validW[v]] = (nint)src;
                        }
                        else if (wholeImage)
                        {
                            ptr[validW[v]] = (nint)(stage + ((nint)c * id * ih + inRow) * span);
                        }
                        else
                        {
                            float* staged = stage + (c * kd * kh + validW[v]) * span;
                            StageRow(src, iw, pw, span, staged);
                            ptr[validW[v]] = (nint)staged;
                        }
                    }
                }
                if (found < kd * kh)
                {
                    // A kernel row outside the input (a depth border) reads the zero row, which has no next line.
                    lines = 1;
                }
                w.Lines = lines;
                for (int task = task0; task < task1; task++)
                {
                    // task = ((block group · C + c) · kd + rz) · (kh / tr) + row group
                    int rg = task % (kh / tr);
                    int rest = task / (kh / tr);
                    int rz = rest % kd;
                    int c = rest / kd % g.C;
                    int ob = rest / kd / g.C * tn;
                    int noc = Math.Min(tn, g.Kb - ob);
                    nint* rp = rowPtr + (c * kd + rz) * kh + rg * tr;
                    float* x0 = (float*)rp[0], x1 = tr > 1 ? (float*)rp[1] : zero, x2 = tr > 2 ? (float*)rp[2] : zero;
                    if (x0 == zero && x1 == zero && x2 == zero)
                    {
                        continue;
                    }
                    float* acc = Accumulator(chunk * tasks + task);
                    float* dyRow = dyNchw ? dyBlocked + (nint)(ob - kb0) * ow * b : dy + (nint)(n * g.Kb + ob) * outPlane + ((nint)oz * oh + oy) * ow * b;
                    for (int t0 = 0; t0 < kw; t0 += tt)
                    {
                        int taps = Math.Min(tt, kw - t0);
                        nint shift = (nint)t0 * dwl;
                        w.Acc = acc + (nint)t0 * b;
                        w.Dy = dyRow;
                        w.X0 = x0 + shift;
                        w.X1 = x1 + shift;
                        w.X2 = x2 + shift;
                        if (noc == 3)
                        {
                            weightTiles.Run(tr, taps, tapSlot, strideSlot, 2, ref w);
                            w.Acc += 2 * accOut;
                            w.Dy += 2 * dyOut;
                            weightTiles.Run(tr, taps, tapSlot, strideSlot, 1, ref w);
                        }
                        else
                        {
                            weightTiles.Run(tr, taps, tapSlot, strideSlot, noc, ref w);
                        }
                    }
                }
                row += lines;
            }
        }
        if (chunks == 1)
        {
            for (int unit = unit0; unit < unit1; unit++)
            {
                StoreWeights(g, unit, Accumulator(unit), dw);
            }
        }

        float* Accumulator(int unit) => chunks == 1 ? local + (long)(unit - unit0) * accLength : partials + ((long)(unit % tasks) * chunks + unit / tasks) * accLength;
    }

    /// <summary>The bytes of dY one first-layer dW tile call may span over its lines (three quarters of a 32 KiB L1).</summary>
    private const int LineBytes = 24 * 1024;

    /// <summary>The first output block of dW task <paramref name="task"/> (as <see cref="FlatInput.WeightTasks"/> numbers them).</summary>
    private static int WeightTaskBlock(BlockedGeometry g, int task)
    {
        var (tn, tr, _) = FlatInput.WeightTile(g);
        return task / (g.Ker[1] / tr) / g.Ker[0] / g.C * tn;
    }

    /// <summary>Adds each task's chunk partials (<c>[task][chunk]</c>) in chunk order and stores the sums into <paramref name="dw"/>.</summary>
    public static void ReduceWeights(BlockedGeometry g, float* partials, float* dw)
    {
        int tasks = FlatInput.WeightTasks(g), chunks = FlatInput.WeightChunks(g);
        int accLength = FlatInput.AccumulatorLength(g);
        for (int task = 0; task < tasks; task++)
        {
            float* sum = partials + (long)task * chunks * accLength;
            var s = new Span<float>(sum, accLength);
            for (int chunk = 1; chunk < chunks; chunk++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(s, new ReadOnlySpan<float>(sum + (long)chunk * accLength, accLength), s);
            }
            StoreWeights(g, task, sum, dw);
        }
    }

    /// <summary>Writes a task's accumulator <c>[block][kernel row][width tap][lane]</c> into dW <c>[K, C, taps]</c> (only real output channels).</summary>
    private static void StoreWeights(BlockedGeometry g, int task, float* acc, float* dw)
    {
        int b = TI.Lanes;
        var (tn, tr, _) = FlatInput.WeightTile(g);
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int rg = task % (kh / tr);
        int rest = task / (kh / tr);
        int rz = rest % kd;
        int c = rest / kd % g.C;
        int ob = rest / kd / g.C * tn;
        int noc = Math.Min(tn, g.Kb - ob);
        for (int o = 0; o < noc; o++)
        {
            int kn = Math.Min(b, g.K - (ob + o) * b);
            for (int kl = 0; kl < kn; kl++)
            {
                for (int r = 0; r < tr; r++)
                {
                    float* dst = dw + ((nint)((ob + o) * b + kl) * g.C + c) * g.Taps + (rz * kh + rg * tr + r) * kw;
                    float* src = acc + ((nint)(o * tr + r) * kw) * b + kl;
                    for (int rx = 0; rx < kw; rx++)
                    {
                        dst[rx] = src[(nint)rx * b];
                    }
                }
            }
        }
    }
}
