namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise forward: <c>y[n,k,o] = b[k] + Σ_r x[n, c, o·s + r·d − p] · w[k, 0, r]</c> with <c>c = k / M</c>
/// (channel multiplier <c>M = K/C</c>), X <c>[N, C, D, H, W]</c>, W <c>[K, 1, R_d, R_h, R_w]</c>, Y <c>[N, K, P_d, P_h, P_w]</c>.
/// </summary>
/// <remarks>
/// Units are (n, c) planes, split statically among threads. Each unit rewrites its input plane once into
/// zero-padded, de-interleaved rows (<see cref="PhasedInputRows"/>) and then, for each of its M output channels and
/// each output row, hands the in-bounds (r_d, r_h) rows times R_w columns as broadcast taps to
/// <see cref="IRowMath.MultiplyAccumulate"/>. Every output is written by exactly one unit, so the result does not
/// depend on the thread count.
/// </remarks>
internal sealed unsafe class DepthwiseForward<TMath> : IPartitionedWork
    where TMath : struct, IRowMath
{
    private readonly ConvProblem _p;
    private readonly float* _x, _w, _b, _y;
    private readonly PhasedInputRows _rows;

    public DepthwiseForward(ConvProblem p, float* x, float* w, float* b, float* y)
    {
        _p = p;
        _x = x;
        _w = w;
        _b = b;
        _y = y;
        _rows = new PhasedInputRows(p);
    }

    public static long WorkspaceFloats(ConvProblem p) => new PhasedInputRows(p).Floats + 2L * p.KerSpatial;

    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.N * p.C, part, parts);
        if (begin >= end)
        {
            return;
        }
        using var plane = new NativeBuffer<float>(_rows.Floats);
        using var srcBuffer = new NativeBuffer<nint>(p.KerSpatial);
        using var tapBuffer = new NativeBuffer<float>(p.KerSpatial);
        float* buf = plane.Pointer;
        float** src = (float**)srcBuffer.Pointer;
        float* taps = tapBuffer.Pointer;
        int sx = p.Stride[2];
        for (int unit = begin; unit < end; unit++)
        {
            int n = unit / p.C, c = unit % p.C;
            _rows.Fill(_x + (long)unit * p.InSpatial, buf);
            for (int k = c * p.Kg; k < (c + 1) * p.Kg; k++)
            {
                float* wk = _w + (long)k * p.KerSpatial;
                float bias = _b == null ? 0f : _b[k];
                float* yPlane = _y + ((long)n * p.K + k) * p.OutSpatial;
                for (int oz = 0; oz < p.Out[0]; oz++)
                for (int oy = 0; oy < p.Out[1]; oy++)
                {
                    int t = 0;
                    for (int rz = 0; rz < p.Ker[0]; rz++)
                    {
                        int iz = oz * p.Stride[0] + rz * p.Dil[0] - p.Pad[0];
                        if ((uint)iz >= (uint)p.In[0])
                        {
                            continue;
                        }
                        for (int ry = 0; ry < p.Ker[1]; ry++)
                        {
                            int iy = oy * p.Stride[1] + ry * p.Dil[1] - p.Pad[1];
                            if ((uint)iy >= (uint)p.In[1])
                            {
                                continue;
                            }
                            int row = iz * p.In[1] + iy;
                            float* wr = wk + (rz * p.Ker[1] + ry) * p.Ker[2];
                            for (int rx = 0; rx < p.Ker[2]; rx++)
                            {
                                int e = rx * p.Dil[2];
                                src[t] = _rows.Row(buf, row, e % sx) + e / sx;
                                taps[t++] = wr[rx];
                            }
                        }
                    }
                    TMath.MultiplyAccumulate(yPlane + ((long)oz * p.Out[1] + oy) * p.Out[2], p.Out[2], bias, src, taps, t);
                }
            }
        }
    }
}
