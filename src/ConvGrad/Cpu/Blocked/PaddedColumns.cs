using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// A copy of a blocked tensor whose rows carry their width padding: <c>copy[n][cb][z][y][Left + i] = t[n][cb][z][y][i]</c>,
/// with <see cref="Left"/> zero columns before each row and <see cref="Right"/> after. The forward (on x) and backward-data
/// (on dY) register tiles whose columns reach past a row's ends otherwise copy just those columns, zero-padded, once per tile
/// and output-block group; on a short row with many channel blocks (7×7, 512 channels: the one 7-pixel tile of each row
/// stages, once for each of its 8 output quads and 5 reduction chunks) that costs more than copying the whole tensor once
/// per call. The zero columns are written when the buffer is made and never again; each call copies only the rows.
/// </summary>
internal sealed unsafe class PaddedColumns : IPartitionedWork
{
    private readonly int _planes, _rows, _width, _b;
    private AlignedFloats? _buffer;
    private float* _source;

    /// <summary>A copy of tensors of <paramref name="planes"/> (image, channel block) planes of <paramref name="rows"/> rows of <paramref name="width"/> pixels of <paramref name="b"/> floats.</summary>
    public PaddedColumns(int planes, int rows, int width, int b, int left, int right)
    {
        _planes = planes;
        _rows = rows;
        _width = width;
        _b = b;
        Left = left;
        Right = right;
    }

    /// <summary>Zero columns before each row of the copy.</summary>
    public int Left { get; }

    /// <summary>Zero columns after each row of the copy.</summary>
    public int Right { get; }

    /// <summary>Pixels per row of the copy.</summary>
    public int RowLength => Left + _width + Right;

    /// <summary>Floats of the copy (its workspace).</summary>
    public long Floats => (long)_planes * _rows * RowLength * _b;

    /// <summary>
    /// The padding of the <paramref name="pass"/> (forward: x; backward-data: dY) copy of <paramref name="g"/> and the
    /// floats its tiles would stage per copied float, for the tier of <paramref name="g"/>'s block (the tile widths and
    /// block groups of <see cref="DirectKernels{TI, TV}"/>).
    /// </summary>
    public static (int Left, int Right, double Ratio) For(BlockedGeometry g, ConvPass pass)
    {
        int max = g.B == 16 ? Isa512.MaxPixels : Isa256.MaxPixels;
        bool forward = pass == ConvPass.Forward;
        int u = BlockedGeometry.TileWidth(forward ? g.Out[2] : (g.In[2] + g.S[2] - 1) / g.S[2], max);
        int blocks = forward ? g.KbG : g.CbG;
        int step = BlockedGeometry.OutBlocksPerTile(u, max, blocks);
        int groups = (blocks + step - 1) / step;
        return forward ? Forward(g, u, groups) : BackwardData(g, u, groups);
    }

    /// <summary>The copy of the <paramref name="pass"/> operand of <paramref name="g"/> (x or dY) with the padding of <see cref="For"/>.</summary>
    public static PaddedColumns Make(BlockedGeometry g, ConvPass pass)
    {
        var (left, right, _) = For(g, pass);
        return pass == ConvPass.Forward
            ? new PaddedColumns(g.N * g.Cb, g.In[0] * g.In[1], g.In[2], g.B, left, right)
            : new PaddedColumns(g.N * g.Kb, g.Out[0] * g.Out[1], g.Out[2], g.B, left, right);
    }

    /// <summary>
    /// The padding a copy of x needs so that no forward tile of <paramref name="g"/> stages (its tiles of <paramref name="u"/>
    /// pixels along each output row), and how many floats the tiles would stage per call for every float the copy writes
    /// (<c>Ratio</c>; the staging is repeated for each of the <paramref name="groups"/> output-block groups of a row).
    /// </summary>
    private static (int Left, int Right, double Ratio) Forward(BlockedGeometry g, int u, int groups)
    {
        int iw = g.In[2], ow = g.Out[2], s = g.S[2], d = g.D[2], kw = g.Ker[2];
        int left = 0, right = 0;
        long staged = 0;
        for (int ox = 0; ox < ow; ox += u)
        {
            int pixels = Math.Min(u, ow - ox);
            int lo = ox * s - g.P[2], hi = lo + (pixels - 1) * s + (kw - 1) * d;
            if (lo < 0 || hi >= iw)
            {
                left = Math.Max(left, -lo);
                right = Math.Max(right, hi - (iw - 1));
                staged += hi - lo + 1;
            }
        }
        // Per output row: the staged columns of each kernel row (about kd·kh of them) for every output-block group; the
        // copy writes each input row once.
        double perCall = (double)staged * groups * g.Ker[0] * g.Ker[1] * g.Out[0] * g.Out[1];
        return (left, right, perCall / ((double)g.In[0] * g.In[1] * (iw + left + right)));
    }

    /// <summary>
    /// The padding a copy of dY needs so that no backward-data tile of <paramref name="g"/> stages (tiles of
    /// <paramref name="u"/> pixels along each width stride phase of each dX row), and the staged floats per copied float
    /// (<c>Ratio</c>, the staging repeated for each of the <paramref name="groups"/> dX-block groups), as <see cref="Forward"/>.
    /// </summary>
    private static (int Left, int Right, double Ratio) BackwardData(BlockedGeometry g, int u, int groups)
    {
        int iw = g.In[2], ow = g.Out[2], sw = g.S[2];
        int delta = g.D[2] / BlockedGeometry.Gcd(sw, g.D[2]);
        int left = 0, right = 0;
        long staged = 0;
        for (int rho = 0; rho < sw && rho < iw; rho++)
        {
            var (_, taps, off0) = KernelRows.WidthPhase(g, rho);
            int len = (iw - rho + sw - 1) / sw;
            for (int t0 = 0; t0 < len && taps > 0; t0 += u)
            {
                int pixels = Math.Min(u, len - t0);
                int c0 = t0 + off0;
                int lo = c0 - (taps - 1) * delta, hi = c0 + pixels - 1;
                if (lo < 0 || hi >= ow)
                {
                    left = Math.Max(left, -lo);
                    right = Math.Max(right, hi - (ow - 1));
                    staged += hi - lo + 1;
                }
            }
        }
        // Per dX row: the staged columns of each kernel row reaching it (about kd·kh / (sd·sh) of them) for every dX-block group.
        double perCall = (double)staged * groups * g.Ker[0] * g.Ker[1] * g.In[0] * g.In[1] / ((double)g.S[0] * g.S[1]);
        return (left, right, perCall / ((double)g.Out[0] * g.Out[1] * (ow + left + right)));
    }

    /// <summary>Aims the next copy at <paramref name="source"/> (made once per plan) and returns the copy's first float; run it with <see cref="Run"/>.</summary>
    public float* Aim(float* source)
    {
        _buffer ??= new AlignedFloats(checked((int)Floats));
        _source = source;
        return _buffer.Pointer;
    }

    /// <summary>Copies the rows of the (image, channel block) planes of part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    public void Run(int part, int parts)
    {
        long begin = (long)_planes * part / parts, end = (long)_planes * (part + 1) / parts;
        nint rowBytes = (nint)_width * _b * sizeof(float);
        nint srcPlane = (nint)_rows * _width * _b, dstPlane = (nint)_rows * RowLength * _b;
        float* dst0 = _buffer!.Pointer;
        for (long plane = begin; plane < end; plane++)
        {
            float* src = _source + (nint)plane * srcPlane;
            float* dst = dst0 + (nint)plane * dstPlane + (nint)Left * _b;
            for (int r = 0; r < _rows; r++, src += (nint)_width * _b, dst += (nint)RowLength * _b)
            {
                Buffer.MemoryCopy(src, dst, rowBytes, rowBytes);
            }
        }
    }
}
