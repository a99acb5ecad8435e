using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu.Conv;

/// <summary>
/// The B operand of backward-weight, im2col(X)ᵀ: <c>B[n·P + o][c·R + r] = X[n, c, o·s + r·d − p]</c> (zero outside the
/// input), reduction over batch × output positions, columns over (channel, tap) of one group. Each column is a strided
/// gather of input rows written down a micro-panel.
/// </summary>
internal unsafe struct Im2ColTransposedB : IPackB
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

    public void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        const int NR = GemmBlocking.NR;
        int n0 = k0 / _outSpatial, o = k0 % _outSpatial;
        int ox0 = o % _out2, oy0 = o / _out2 % _out1, oz0 = o / _out2 / _out1;
        int padded = GemmBlocking.RoundUp(nc, NR);
        for (int col = 0; col < padded; col++)
        {
            float* d = dst + (nint)(col / NR) * kc * NR + col % NR;
            if (col >= nc)
            {
                RowGather.Zero(d, NR, kc);
                continue;
            }
            int c = (j0 + col) / _ks, tap = (j0 + col) % _ks;
            int* off = _tapOff + tap * 3;
            int n = n0, oz = oz0, oy = oy0, ox = ox0;
            for (int e = 0; e < kc;)
            {
                int len = Math.Min(kc - e, _out2 - ox);
                int z = oz * _s0 + off[0], y = oy * _s1 + off[1];
                if ((uint)z >= (uint)_in0 || (uint)y >= (uint)_in1)
                {
                    RowGather.Zero(d + (nint)e * NR, NR, len);
                }
                else
                {
                    float* row = _x + n * _imageStride + c * _chStride + ((nint)z * _in1 + y) * _in2;
                    RowGather.Gather(d + (nint)e * NR, NR, row, _in2, ox * _s2 + off[2], _s2, len);
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
    }
}
