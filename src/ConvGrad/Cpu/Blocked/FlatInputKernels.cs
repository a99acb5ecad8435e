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

    /// <summary>With fewer backward-weight tasks than this, the tile takes fewer output blocks (a shape-only rule).</summary>
    public const int MinWeightTasks = 8;

    /// <summary>Whether the flat-input kernels compute <paramref name="p"/>: one group and 1-3 input channels.</summary>
    public static bool Applies(ConvProblem p) => p.Groups == 1 && p.C <= MaxChannels;

    /// <summary>
    /// The backward-weight register tile (output blocks, taps per chunk) for <paramref name="g"/>: among 4, 2 and 1 output
    /// blocks (at most the layer's), the one with the fewest loads per FMA whose accumulators, dY vectors and one
    /// broadcast fit the tier's registers; fewer blocks while there would be fewer than <see cref="MinWeightTasks"/>
    /// tasks. A function of the shape only; the sums are the same whatever the tile, so dW's bits do not depend on it.
    /// </summary>
    public static (int Blocks, int Taps) WeightTile(BlockedGeometry g)
    {
        int registers = g.B == 16 ? 32 : 16;
        int kw = g.Ker[2];
        int best = 1;
        double bestCost = double.MaxValue;
        for (int n = g.Kb >= 4 ? 4 : g.Kb >= 2 ? 2 : 1; n >= 1; n /= 2)
        {
            int chunks = (kw + MaxTaps(registers, n) - 1) / MaxTaps(registers, n);
            double cost = (double)(chunks * n + kw) / (kw * n);
            if (cost < bestCost - 1e-9)
            {
                best = n;
                bestCost = cost;
            }
        }
        while (best > 1 && (long)(g.Kb + best - 1) / best * g.C * g.Ker[0] * g.Ker[1] < MinWeightTasks)
        {
            best /= 2;
        }
        int max = MaxTaps(registers, best);
        int parts = (kw + max - 1) / max;
        return (best, (kw + parts - 1) / parts);
    }

    /// <summary>Width taps one weight tile holds with <paramref name="blocks"/> output blocks: accumulators + dY vectors + a broadcast fit the registers (at most 14).</summary>
    private static int MaxTaps(int registers, int blocks) => Math.Min(14, (registers - blocks - 1) / blocks);

    /// <summary>
    /// Scratch bytes of one first-layer pass with up to <paramref name="threads"/> threads: the reblocked weights and bias
    /// (forward) and per thread a zero-padded copy of the rows it reads, plus the accumulators of every dW task.
    /// </summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass, int blockSize, int threads)
    {
        var g = new BlockedGeometry(p, blockSize);
        long span = (long)(g.Out[2] - 1) * g.S[2] + (g.Ker[2] - 1) * g.D[2] + 1;
        long floats = pass == ConvPass.BackwardWeight
            ? (long)WeightTasks(g) * WeightTile(g).Blocks * g.Ker[2] * blockSize + Math.Max(1, threads) * span
            : (long)g.Kb * g.C * g.Taps * blockSize + g.Kb * blockSize + Math.Max(1, threads) * g.C * g.Ker[0] * g.Ker[1] * span;
        return floats * sizeof(float);
    }

    /// <summary>Backward-weight tasks: (group of output blocks, input channel, kernel depth row, kernel height row).</summary>
    public static int WeightTasks(BlockedGeometry g) => (g.Kb + WeightTile(g).Blocks - 1) / WeightTile(g).Blocks * g.C * g.Ker[0] * g.Ker[1];
}

/// <summary>
/// The first-layer kernels for both vector widths (<typeparamref name="TI"/> is <see cref="Isa512"/> or
/// <see cref="Isa256"/>): they read the NCHW input with its 1-3 channels as it is, so no lane of a padded channel block
/// is multiplied by zero.
/// <list type="bullet">
/// <item>Forward: per output row, tiles of up to <c>MaxPixels</c> pixels × 2 or 4 output blocks (<see cref="FlatTile"/>);
/// per (channel, kernel row, width tap) one weight vector per block and one broadcast input value per pixel. Rows
/// that reach the width padding are read from a zero-padded copy of just that row (all channels and kernel rows).</item>
/// <item>Backward-weight: a task owns dW of (up to 4 output blocks, one input channel, one kernel row) and sums every
/// image and output row in order, the taps × blocks in registers along each row; rows are swept in L2-sized chunks shared
/// by a thread's tasks. dW is bitwise the same for any thread count.</item>
/// </list>
/// </summary>
internal static unsafe class FlatInputKernels<TI, TV> where TI : struct, ISimdIsa<TV> where TV : struct
{
    /// <summary>Bytes of x and dY one chunk of dW rows should span (they stay in L2 while a thread's tasks read them).</summary>
    private const long ChunkBytes = 256 * 1024;

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
        int kernelRows = g.C * kd * kh;
        nint* rowX = BlockedScratch.Offsets(2 * kernelRows);
        nint* rowW = rowX + kernelRows;
        float* stage = inPlace ? null : BlockedScratch.Floats((long)kernelRows * span);
        nint outPlane = (nint)od * oh * ow * b;
        FlatTileArgs a = default;
        a.Taps = kw;
        a.XTap = dw;
        a.WOut = (nint)g.C * g.Taps * b;
        a.PixelStride = sw;
        a.YOut = outPlane;
        a.RowX = rowX;
        a.RowW = rowW;
        float* xBase = inPlace ? x : stage;
        long rowDone = -1;
        int rows = 0;
        for (long item = begin; item < end; item++)
        {
            int grp = (int)(item % groups);
            long row = item / groups;
            int oy = (int)(row % oh);
            int oz = (int)(row / oh % od);
            int n = (int)(row / oh / od);
            if (row != rowDone)
            {
                rows = KernelRows(g, x, n, oz, oy, inPlace, span, stage, rowX, rowW);
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
                    FlatTile.Forward<TI, TV>(pixels, sw, 2, ref a);
                    float* w = a.W, init = a.Init, yy = a.Y;
                    a.W = w + 2 * a.WOut;
                    a.Init = init == null ? null : init + 2 * b;
                    a.Y = yy + 2 * outPlane;
                    FlatTile.Forward<TI, TV>(pixels, sw, 1, ref a);
                    a.W = w;
                    a.Init = init;
                }
                else
                {
                    FlatTile.Forward<TI, TV>(pixels, sw, noc, ref a);
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
    private static int KernelRows(BlockedGeometry g, float* x, int n, int oz, int oy, bool inPlace, int span, float* stage, nint* rowX, nint* rowW)
    {
        int b = TI.Lanes;
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int rows = 0;
        for (int c = 0; c < g.C; c++)
        {
            for (int rz = 0; rz < kd; rz++)
            {
                int iz = oz * g.S[0] + rz * g.D[0] - g.P[0];
                if ((uint)iz >= (uint)id)
                {
                    continue;
                }
                for (int ry = 0; ry < kh; ry++)
                {
                    int iy = oy * g.S[1] + ry * g.D[1] - g.P[1];
                    if ((uint)iy >= (uint)ih)
                    {
                        continue;
                    }
                    nint src = (((nint)(n * g.C + c) * id + iz) * ih + iy) * iw;
                    if (inPlace)
                    {
                        rowX[rows] = src;
                    }
                    else
                    {
                        rowX[rows] = (nint)rows * span;
                        StageRow(x + src, iw, g.P[2], span, stage + rowX[rows]);
                    }
                    rowW[rows] = (nint)(c * g.Taps + (rz * kh + ry) * kw) * b;
                    rows++;
                }
            }
        }
        return rows;
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

    /// <summary>Floats of one task's accumulator (blocks × width taps × lanes).</summary>
    public static int AccumulatorLength(BlockedGeometry g) => FlatInput.WeightTile(g).Blocks * g.Ker[2] * TI.Lanes;

    /// <summary>
    /// dW of tasks <c>[task0, task1)</c> (see <see cref="FlatInput.WeightTasks"/>) from NCHW <paramref name="x"/> and
    /// blocked <paramref name="dy"/>, into <paramref name="dw"/> <c>[K, C, k...]</c>. Each task sums every output row in
    /// order; the rows are swept in chunks shared by the tasks, which changes nothing in any task's order of operations.
    /// </summary>
    public static void BackwardWeight(BlockedGeometry g, float* x, float* dy, float* dw, int task0, int task1)
    {
        if (task1 <= task0)
        {
            return;
        }
        int b = TI.Lanes;
        var (tn, tt) = FlatInput.WeightTile(g);
        int kw = g.Ker[2], sw = g.S[2], dwl = g.D[2], pw = g.P[2];
        int ow = g.Out[2], iw = g.In[2];
        int span = (ow - 1) * sw + (kw - 1) * dwl + 1;
        bool inPlace = pw == 0 && span <= iw;
        int accLength = tn * kw * b;
        float* acc = BlockedScratch.Floats((long)(task1 - task0) * accLength + (inPlace ? 0 : span));
        float* stage = acc + (long)(task1 - task0) * accLength;
        new Span<float>(acc, (task1 - task0) * accLength).Clear();
        long rows = (long)g.N * g.Out[0] * g.Out[1];
        long rowBytes = ((long)g.Kb * ow * b + (long)g.C * iw * g.S[1]) * sizeof(float);
        long chunk = Math.Max(1, ChunkBytes / Math.Max(1, rowBytes));
        for (long r0 = 0; r0 < rows; r0 += chunk)
        {
            long r1 = Math.Min(rows, r0 + chunk);
            for (int task = task0; task < task1; task++)
            {
                WeightRows(g, x, dy, task, tn, tt, r0, r1, inPlace, span, stage, acc + (long)(task - task0) * accLength);
            }
        }
        for (int task = task0; task < task1; task++)
        {
            StoreWeights(g, task, tn, acc + (long)(task - task0) * accLength, dw);
        }
    }

    private static void WeightRows(BlockedGeometry g, float* x, float* dy, int task, int tn, int tt, long r0, long r1, bool inPlace, int span, float* stage, float* acc)
    {
        int b = TI.Lanes;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int ry = task % kh;
        int rz = task / kh % kd;
        int c = task / kh / kd % g.C;
        int ob = task / kh / kd / g.C * tn;
        int noc = Math.Min(tn, g.Kb - ob);
        nint outPlane = (nint)od * oh * ow * b;
        nint accOut = (nint)kw * b;
        for (long row = r0; row < r1; row++)
        {
            int oy = (int)(row % oh);
            int oz = (int)(row / oh % od);
            int n = (int)(row / oh / od);
            int iz = oz * g.S[0] + rz * g.D[0] - g.P[0];
            int iy = oy * g.S[1] + ry * g.D[1] - g.P[1];
            if ((uint)iz >= (uint)id || (uint)iy >= (uint)ih)
            {
                continue;
            }
            float* xs = x + (((nint)(n * g.C + c) * id + iz) * ih + iy) * iw;
            if (!inPlace)
            {
                StageRow(xs, iw, g.P[2], span, stage);
                xs = stage;
            }
            float* dyRow = dy + (nint)(n * g.Kb + ob) * outPlane + ((nint)oz * oh + oy) * ow * b;
            for (int t0 = 0; t0 < kw; t0 += tt)
            {
                int taps = Math.Min(tt, kw - t0);
                float* at = acc + (nint)t0 * b;
                float* xt = xs + (nint)t0 * g.D[2];
                if (noc == 3)
                {
                    FlatTile.Weight<TI, TV>(taps, 2, at, accOut, dyRow, outPlane, xt, g.D[2], g.S[2], ow);
                    FlatTile.Weight<TI, TV>(taps, 1, at + 2 * accOut, accOut, dyRow + 2 * outPlane, outPlane, xt, g.D[2], g.S[2], ow);
                }
                else
                {
                    FlatTile.Weight<TI, TV>(taps, noc, at, accOut, dyRow, outPlane, xt, g.D[2], g.S[2], ow);
                }
            }
        }
    }

    /// <summary>Writes a task's accumulator <c>[block][width tap][lane]</c> into dW <c>[K, C, taps]</c> (only real output channels).</summary>
    private static void StoreWeights(BlockedGeometry g, int task, int tn, float* acc, float* dw)
    {
        int b = TI.Lanes;
        int kd = g.Ker[0], kh = g.Ker[1], kw = g.Ker[2];
        int ry = task % kh;
        int rz = task / kh % kd;
        int c = task / kh / kd % g.C;
        int ob = task / kh / kd / g.C * tn;
        int noc = Math.Min(tn, g.Kb - ob);
        int tap0 = (rz * kh + ry) * kw;
        for (int o = 0; o < noc; o++)
        {
            int kn = Math.Min(b, g.K - (ob + o) * b);
            for (int kl = 0; kl < kn; kl++)
            {
                float* dst = dw + ((nint)((ob + o) * b + kl) * g.C + c) * g.Taps + tap0;
                float* src = acc + (nint)o * kw * b + kl;
                for (int rx = 0; rx < kw; rx++)
                {
                    dst[rx] = src[(nint)rx * b];
                }
            }
        }
    }
}
