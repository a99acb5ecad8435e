namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise backward-weight: <c>dw[k, 0, r] = Σ_n Σ_o dy[n,k,o] · x[n, c, o·s + r·d − p]</c> with <c>c = k / M</c>,
/// X <c>[N, C, D, H, W]</c>, dY <c>[N, K, P_d, P_h, P_w]</c>, dW <c>[K, 1, R_d, R_h, R_w]</c>.
/// </summary>
/// <remarks>
/// Units are output channels k, split statically among threads; a part walks its channels grouped by input
/// channel c so that each input plane is rewritten (<see cref="PhasedInputRows"/>) once per image. Each tap r
/// owns an accumulator block that receives, image by image and row by row, the dot product of the dY row with
/// the shifted input row (<see cref="IRowMath.DotAccumulate"/>), and is summed in a fixed order at the end. The
/// summation order of every dw element is thus a function of the shape alone: bitwise identical for any thread count.
/// </remarks>
internal sealed unsafe class DepthwiseBackwardWeight<TMath> : IPartitionedWork
    where TMath : struct, IRowMath
{
    private readonly ConvProblem _p;
    private readonly float* _x, _dy, _dw;
    private readonly PhasedInputRows _rows;

    public DepthwiseBackwardWeight(ConvProblem p, float* x, float* dy, float* dw)
    {
        _p = p;
        _x = x;
        _dy = dy;
        _dw = dw;
        _rows = new PhasedInputRows(p);
    }

    public static long WorkspaceFloats(ConvProblem p) =>
        new PhasedInputRows(p).Floats + (long)p.Kg * p.KerSpatial * DepthwiseBlocking.AccumulatorFloats + 2L * p.Ker[2];

    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.K, part, parts);
        if (begin >= end)
        {
            return;
        }
        const int Lanes = DepthwiseBlocking.AccumulatorFloats;
        int tapFloats = p.KerSpatial * Lanes;
        using var plane = new NativeBuffer<float>(_rows.Floats);
        using var accBuffer = new NativeBuffer<float>((long)Math.Min(p.Kg, end - begin) * tapFloats);
        using var srcBuffer = new NativeBuffer<nint>(p.Ker[2]);
        float* buf = plane.Pointer;
        float* acc = accBuffer.Pointer;
        float** src = (float**)srcBuffer.Pointer;
        int sx = p.Stride[2];
        for (int first = begin; first < end;)
        {
            int c = first / p.Kg;
            int last = Math.Min(end, (c + 1) * p.Kg);
            new Span<float>(acc, (last - first) * tapFloats).Clear();
            for (int n = 0; n < p.N; n++)
            {
                _rows.Fill(_x + ((long)n * p.C + c) * p.InSpatial, buf);
                for (int k = first; k < last; k++)
                {
                    float* accK = acc + (long)(k - first) * tapFloats;
                    float* dyPlane = _dy + ((long)n * p.K + k) * p.OutSpatial;
                    for (int oz = 0; oz < p.Out[0]; oz++)
                    for (int oy = 0; oy < p.Out[1]; oy++)
                    {
                        float* dyRow = dyPlane + ((long)oz * p.Out[1] + oy) * p.Out[2];
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
                                for (int rx = 0; rx < p.Ker[2]; rx++)
                                {
                                    int e = rx * p.Dil[2];
                                    src[rx] = _rows.Row(buf, row, e % sx) + e / sx;
                                }
                                TMath.DotAccumulate(dyRow, p.Out[2], src, p.Ker[2], accK + (rz * p.Ker[1] + ry) * p.Ker[2] * Lanes);
                            }
                        }
                    }
                }
            }
            for (int k = first; k < last; k++)
            {
                float* accK = acc + (long)(k - first) * tapFloats;
                float* dwK = _dw + (long)k * p.KerSpatial;
                for (int t = 0; t < p.KerSpatial; t++)
                {
                    dwK[t] = TMath.Finish(accK + t * Lanes);
                }
            }
            first = last;
        }
    }
}
