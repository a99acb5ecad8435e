using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu.Conv;

/// <summary>
/// Implicit im2col as a B packer: <c>B[ch·T + t][j] = src[ch, j·step + off_t]</c> (per axis, zero outside the source
/// <c>[0, S)</c>), columns <c>j</c> running over a grid <c>G[3]</c> in row-major order, taps <c>t</c> given by per-axis
/// offsets. Forward: src = X, grid = output, step = stride, off = r·d − p. Backward-data phase: src = dY, grid = the
/// phase's pixels, step = 1, off = (ρ + p − r·d)/s for the taps that reach the phase. No matrix is materialised beyond
/// one KC×NC panel. A 1-tap, unit-step, zero-offset problem whose grid is the source (1×1 stride 1 pad 0) is read in place.
/// </summary>
internal unsafe struct Im2ColPanelsB : IPackB
{
    private readonly float* _src;
    private readonly nint _chStride;
    private readonly int _taps;
    private readonly int* _tapOff;
    private readonly int _s0, _s1, _s2, _step0, _step1, _step2, _g1, _g2;
    private readonly bool _direct;

    /// <param name="src">Channel 0 of the source planes.</param>
    /// <param name="chStride">Floats between channels.</param>
    /// <param name="taps">Taps per channel (T).</param>
    /// <param name="tapOff">Per tap, the three axis offsets.</param>
    /// <param name="source">Source sizes S[3].</param>
    /// <param name="step">Source step per grid step, per axis.</param>
    /// <param name="grid">Grid sizes G[3].</param>
    public Im2ColPanelsB(float* src, nint chStride, int taps, int* tapOff, ReadOnlySpan<int> source, ReadOnlySpan<int> step, ReadOnlySpan<int> grid)
    {
        _src = src;
        _chStride = chStride;
        _taps = taps;
        _tapOff = tapOff;
        _s0 = source[0]; _s1 = source[1]; _s2 = source[2];
        _step0 = step[0]; _step1 = step[1]; _step2 = step[2];
        _g1 = grid[1]; _g2 = grid[2];
        _direct = taps == 1 && tapOff[0] == 0 && tapOff[1] == 0 && tapOff[2] == 0
            && _step0 == 1 && _step1 == 1 && _step2 == 1
            && grid[0] == _s0 && _g1 == _s1 && _g2 == _s2;
    }

    public float* Direct(out nint ld)
    {
        ld = _chStride;
        return _direct ? _src : null;
    }

    public void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        const int NR = GemmBlocking.NR;
        // A panel's 16 columns split into runs along the grid's last axis: (start, length, t0, t1, t2).
        int* seg = stackalloc int[NR * 5];
        for (int p = 0; p * NR < nc; p++)
        {
            int jp = j0 + p * NR, cols = Math.Min(NR, nc - p * NR);
            int t2 = jp % _g2, r = jp / _g2, t1 = r % _g1, t0 = r / _g1;
            int nseg = 0;
            for (int e = 0; e < cols;)
            {
                int len = Math.Min(cols - e, _g2 - t2);
                int* sg = seg + nseg * 5;
                sg[0] = e; sg[1] = len; sg[2] = t0 * _step0; sg[3] = t1 * _step1; sg[4] = t2 * _step2;
                nseg++;
                e += len;
                t2 = 0;
                if (++t1 == _g1)
                {
                    t1 = 0;
                    t0++;
                }
            }
            float* pd = dst + (nint)p * kc * NR;
            int ch = k0 / _taps, tap = k0 % _taps;
            for (int kk = 0; kk < kc; kk++)
            {
                float* srcCh = _src + ch * _chStride;
                int* off = _tapOff + tap * 3;
                float* d = pd + kk * NR;
                for (int s = 0; s < nseg; s++)
                {
                    int* sg = seg + s * 5;
                    int z = sg[2] + off[0], y = sg[3] + off[1];
                    if ((uint)z >= (uint)_s0 || (uint)y >= (uint)_s1)
                    {
                        RowGather.Zero(d + sg[0], 1, sg[1]);
                    }
                    else
                    {
                        RowGather.Gather(d + sg[0], 1, srcCh + ((nint)z * _s1 + y) * _s2, _s2, sg[4] + off[2], _step2, sg[1]);
                    }
                }
                if (cols < NR)
                {
                    RowGather.Zero(d + cols, 1, NR - cols);
                }
                if (++tap == _taps)
                {
                    tap = 0;
                    ch++;
                }
            }
        }
    }
}
