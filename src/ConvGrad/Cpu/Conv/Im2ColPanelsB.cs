using System.Runtime.CompilerServices;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu.Conv;

/// <summary>
/// Implicit im2col as a B packer: <c>B[ch·T + t][j] = src[ch, j·step + off_t]</c> (per axis, zero outside the source
/// <c>[0, S)</c>), columns <c>j</c> running over a grid <c>G[3]</c> in row-major order, taps <c>t</c> given by per-axis
/// offsets. Forward: src = X, grid = output, step = stride, off = r·d − p. Backward-data phase: src = dY, grid = the
/// phase's pixels, step = 1, off = (ρ + p − r·d)/s for the taps that reach the phase. No matrix is materialised beyond
/// one KC×NC panel. Columns may run over several images (grid after grid). A 1-tap, unit-step, zero-offset problem whose grid is the source (1×1 stride 1 pad 0) is read in place.
/// </summary>
internal unsafe struct Im2ColPanelsB<TK> : IPackB where TK : struct, IGemmTile
{
    private readonly float* _src;
    private readonly nint _chStride, _imageStride;
    private readonly int _taps;
    private readonly int* _tapOff;
    private readonly int _s0, _s1, _s2, _step0, _step1, _step2, _g0, _g1, _g2;
    private readonly bool _direct, _wide;

    /// <param name="src">Channel 0 of the source planes of image 0.</param>
    /// <param name="chStride">Floats between channels.</param>
    /// <param name="imageStride">Floats between images; columns run over images × grid (the batch is folded into the columns).</param>
    /// <param name="images">Images the columns run over.</param>
    /// <param name="taps">Taps per channel (T).</param>
    /// <param name="tapOff">Per tap, the three axis offsets.</param>
    /// <param name="source">Source sizes S[3].</param>
    /// <param name="step">Source step per grid step, per axis.</param>
    /// <param name="grid">Grid sizes G[3].</param>
    public Im2ColPanelsB(float* src, nint chStride, nint imageStride, int images, int taps, int* tapOff, ReadOnlySpan<int> source, ReadOnlySpan<int> step, ReadOnlySpan<int> grid)
    {
        _src = src;
        _chStride = chStride;
        _imageStride = imageStride;
        _taps = taps;
        _tapOff = tapOff;
        _s0 = source[0]; _s1 = source[1]; _s2 = source[2];
        _step0 = step[0]; _step1 = step[1]; _step2 = step[2];
        _g0 = grid[0]; _g1 = grid[1]; _g2 = grid[2];
        _direct = images == 1 && taps == 1 && tapOff[0] == 0 && tapOff[1] == 0 && tapOff[2] == 0
            && _step0 == 1 && _step1 == 1 && _step2 == 1
            && grid[0] == _s0 && _g1 == _s1 && _g2 == _s2;
        // Unit steps in height and width over a grid as wide as the source ("same" padding at stride 1, every
        // stride-1 backward-data phase of it): consecutive grid rows then read consecutive source rows, so a run
        // may continue across row ends as one contiguous copy (see WideRun).
        _wide = _step1 == 1 && _step2 == 1 && _g2 == _s2;
    }

    public float* Direct(out nint ld)
    {
        ld = _chStride;
        return _direct ? _src : null;
    }

    /// <remarks>
    /// Row-major over the reduction: for each (channel, tap) the nc columns are read as runs along source rows and
    /// written to the NR-wide slots of each panel. Reading each source row sequentially keeps the hardware prefetcher
    /// on (the panel-major order touches a new cache line of every channel plane per panel and is latency-bound).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        int NR = TK.NR;
        nint panelStride = (nint)kc * NR;
        int t2s = j0 % _g2, rest = j0 / _g2, t1s = rest % _g1;
        rest /= _g1;
        int t0s = rest % _g0, ns = rest / _g0;
        int padded = GemmBlocking.RoundUp(nc, NR);
        int ch = k0 / _taps, tap = k0 % _taps;
        for (int kk = 0; kk < kc; kk++)
        {
            float* srcCh = _src + ns * _imageStride + ch * _chStride;
            int* off = _tapOff + tap * 3;
            float* rowDst = dst + kk * NR;
            int t0 = t0s, t1 = t1s, t2 = t2s;
            for (int e = 0; e < nc;)
            {
                if (_wide && (uint)(t0 * _step0 + off[0]) < (uint)_s0 && (uint)(t1 + off[1]) < (uint)_s1 && Math.Abs(off[2]) < _s2)
                {
                    // Grid rows t1, t1+1, ... of this plane whose source rows are all inside: one wide run.
                    int z0 = t0 * _step0 + off[0], y0 = t1 + off[1];
                    int rows = Math.Min(_g1 - t1, _s1 - y0);
                    int wide = Math.Min(nc - e, rows * _g2 - t2);
                    WideRun(rowDst, panelStride, e, wide, srcCh + (nint)z0 * _s1 * _s2, y0, t2, off[2]);
                    e += wide;
                    int at = t2 + wide;
                    t1 += at / _g2;
                    t2 = at % _g2;
                    if (t1 == _g1)
                    {
                        t1 = 0;
                        if (++t0 == _g0)
                        {
                            t0 = 0;
                            srcCh += _imageStride;
                        }
                    }
                    continue;
                }
                int len = Math.Min(nc - e, _g2 - t2);
                int z = t0 * _step0 + off[0], y = t1 * _step1 + off[1];
                bool outside = (uint)z >= (uint)_s0 || (uint)y >= (uint)_s1;
                float* row = srcCh + ((nint)z * _s1 + y) * _s2;
                int x = t2 * _step2 + off[2];
                // Split the run at panel boundaries.
                for (int done = 0; done < len;)
                {
                    int col = e + done;
                    int piece = Math.Min(len - done, NR - col % NR);
                    float* d = rowDst + (col / NR) * panelStride + col % NR;
                    if (outside)
                    {
                        RowGather.Zero(d, 1, piece);
                    }
                    else
                    {
                        RowGather.Gather<TK>(d, row, _s2, x + done * _step2, _step2, piece);
                    }
                    done += piece;
                }
                e += len;
                t2 = 0;
                if (++t1 == _g1)
                {
                    t1 = 0;
                    if (++t0 == _g0)
                    {
                        t0 = 0;
                        srcCh += _imageStride;
                    }
                }
            }
            if (padded > nc)
            {
                RowGather.Zero(rowDst + (nc / NR) * panelStride + nc % NR, 1, padded - nc);
            }
            if (++tap == _taps)
            {
                tap = 0;
                ch++;
            }
        }
    }

    /// <summary>
    /// Columns <c>e0 .. e0+len</c> of one packed row, starting at grid column <paramref name="t2"/> of a grid row whose
    /// source row <paramref name="y0"/> and the following ones are all inside the source slice
    /// <paramref name="slice"/> (<c>S1 × S2</c>, row pitch S2 = the grid width). Column c reads
    /// <c>slice[y0·S2 + t2 + dx + (c − e0)]</c>: one contiguous copy across row ends, written in panel-sized pieces;
    /// afterwards the columns whose <c>t2 + dx</c> falls outside <c>[0, S2)</c> (they read the neighbouring row's
    /// end, or nothing at the slice's edges) are overwritten with the padding's zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WideRun(float* rowDst, nint panelStride, int e0, int len, float* slice, int y0, int t2, int dx)
    {
        int NR = TK.NR;
        // The run as one contiguous read of the slice, starting at slice index x0 (−1 at the slice's first column for
        // dx < 0); the gather zeroes what falls outside the slice, and the loop below the columns outside their row.
        int x0 = y0 * _s2 + t2 + dx, sliceFloats = _s1 * _s2;
        for (int done = 0; done < len;)
        {
            int col = e0 + done;
            int piece = Math.Min(len - done, NR - col % NR);
            RowGather.Gather<TK>(rowDst + (col / NR) * panelStride + col % NR, slice, sliceFloats, x0 + done, 1, piece);
            done += piece;
        }
        if (dx == 0)
        {
            return;
        }
        // Zero the |dx| columns at the start (dx < 0) or end (dx > 0) of every grid row the run touches.
        int zeroFrom = dx < 0 ? 0 : _s2 - dx, zeroTo = dx < 0 ? -dx : _s2;
        for (int rowStart = e0 - t2; rowStart < e0 + len; rowStart += _g2)
        {
            int from = Math.Max(rowStart + zeroFrom, e0), to = Math.Min(rowStart + zeroTo, e0 + len);
            for (int col = from; col < to; col++)
            {
                rowDst[(col / NR) * panelStride + col % NR] = 0f;
            }
        }
    }
}
