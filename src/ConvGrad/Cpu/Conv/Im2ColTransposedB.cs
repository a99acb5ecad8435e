using System.Runtime.CompilerServices;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu.Conv;

/// <summary>
/// The B operand of backward-weight, im2col(X)ᵀ: <c>B[n·P + o][c·R + r] = X[n, c, o·s + r·d − p]</c> (zero outside the
/// input), reduction over batch × output positions, columns over (channel, tap) of one group.
/// </summary>
internal unsafe struct Im2ColTransposedB<TK> : IPackB where TK : struct, IGemmTile
{
    private readonly float* _x;
    private readonly nint _imageStride, _chStride;
    private readonly int _ks;
    private readonly int* _tapOff;
    private readonly int _in0, _in1, _in2, _out0, _out1, _out2, _s0, _s1, _s2, _outSpatial;

    /// <param name="x">Channel 0 of the group in image 0.</param>
    /// <param name="imageStride">Floats between images.</param>
    /// <param name="p">The problem (sizes, strides).</param>
    /// <param name="tapOff">Per tap, the three axis offsets r·d − p.</param>
    public Im2ColTransposedB(float* x, nint imageStride, ConvProblem p, int* tapOff)
    {
        _x = x;
        _imageStride = imageStride;
        _chStride = p.InSpatial;
        _ks = p.KerSpatial;
        _tapOff = tapOff;
        _in0 = p.In[0]; _in1 = p.In[1]; _in2 = p.In[2];
        _out0 = p.Out[0]; _out1 = p.Out[1]; _out2 = p.Out[2];
        _s0 = p.Stride[0]; _s1 = p.Stride[1]; _s2 = p.Stride[2];
        _outSpatial = p.OutSpatial;
    }

    public float* Direct(out nint ld)
    {
        ld = 0;
        return null;
    }

    /// <remarks>
    /// Eight columns at a time: each column's whole reduction block is gathered contiguously, run by run along the output
    /// rows (vector copies, zeros for the padding), into a staging block of 8 × kc floats (at most 12 KiB, in L1), and
    /// 8×8 transposes write the panel rows, eight floats per store. Writing each column down the panel instead costs one
    /// scalar store per element, a cache line apart.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        int NR = TK.NR;
        int n0 = k0 / _outSpatial, o = k0 % _outSpatial;
        int ox0 = o % _out2, oy0 = o / _out2 % _out1, oz0 = o / _out2 / _out1;
        int padded = GemmBlocking.RoundUp(nc, NR);
        int ld = GemmBlocking.RoundUp(kc, 8);
        float* stage = stackalloc float[8 * ld];
        for (int c8 = 0; c8 < padded; c8 += 8)
        {
            // Eight columns of one panel (8 divides every tile's NR): panel row e at d + e·NR, columns c8 % NR .. + 8.
            float* d = dst + (nint)(c8 / NR) * kc * NR + c8 % NR;
            int cols = Math.Min(8, nc - c8);
            for (int q = 0; q < 8; q++)
            {
                float* sq = stage + q * ld;
                if (q >= cols)
                {
                    RowGather.Zero(sq, 1, kc);
                    continue;
                }
                int c = (j0 + c8 + q) / _ks, tap = (j0 + c8 + q) % _ks;
                int* off = _tapOff + tap * 3;
                float* channel = _x + c * _chStride;
                int n = n0, oz = oz0, oy = oy0, ox = ox0;
                for (int e = 0; e < kc;)
                {
                    int len = Math.Min(kc - e, _out2 - ox);
                    int z = oz * _s0 + off[0], y = oy * _s1 + off[1];
                    if ((uint)z >= (uint)_in0 || (uint)y >= (uint)_in1)
                    {
                        RowGather.Zero(sq + e, 1, len);
                    }
                    else
                    {
                        float* row = channel + n * _imageStride + ((nint)z * _in1 + y) * _in2;
                        RowGather.Gather<TK>(sq + e, row, _in2, ox * _s2 + off[2], _s2, len);
                    }
                    e += len;
                    ox = 0;
                    if (++oy == _out1)
                    {
                        oy = 0;
                        if (++oz == _out0)
                        {
                            oz = 0;
                            n++;
                        }
                    }
                }
            }
            int t = 0;
            if (TK.Tier >= IsaTier.Avx2 && Transposes.IsSupported)
            {
                for (; t + 8 <= kc; t += 8)
                {
                    Transposes.Transpose8x8(stage + t, ld, d + (nint)t * NR, NR);
                }
            }
            for (; t < kc; t++)
            {
                for (int q = 0; q < 8; q++)
                {
                    d[(nint)t * NR + q] = stage[q * ld + t];
                }
            }
        }
    }
}
