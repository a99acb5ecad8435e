using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise backward-weight: <c>dw[k, 0, r] = Σ_n Σ_o dy[n,k,o] · x[n, c, o·s + r·d − p]</c> with <c>c = k / M</c>,
/// X <c>[N, C, D, H, W]</c>, dY <c>[N, K, P_d, P_h, P_w]</c>, dW <c>[K, 1, R_d, R_h, R_w]</c>.
/// </summary>
/// <remarks>
/// Units are output channels k, split statically among threads; a part walks its channels grouped by input
/// channel c so that each input plane is rewritten (<see cref="PhasedInputRows"/>) once per image. Each tap r
/// owns an accumulator block that receives, image by image, the dot product of the dY plane with the shifted input
/// plane (<see cref="IRowMath.DotAccumulatePlane"/>: row by row, with up to nine taps' partial sums held in registers
/// across the plane; kernel rows outside the input read a zero row so every output row has every tap), and is summed
/// in a fixed order at the end. The summation order of every dw element is thus a function of the shape alone:
/// bitwise identical for any thread count.
/// </remarks>
internal sealed unsafe class DepthwiseBackwardWeight<TMath> : IPartitionedWork
    where TMath : struct, IRowMath
{
    private readonly ConvProblem _p;
    private readonly float* _x, _dy, _dw;
    private readonly PhasedInputRows _rows;
    private readonly TapTable _taps;

    public DepthwiseBackwardWeight(ConvProblem p, float* x, float* dy, float* dw)
    {
        _p = p;
        _x = x;
        _dy = dy;
        _dw = dw;
        _rows = new PhasedInputRows(p);
        _taps = TapTable.ForOutputRows(p, _rows, zeroRow: (nint)_rows.Floats);
    }

    /// <summary>The rewritten plane followed by one zero row that out-of-range kernel rows read.</summary>
    private static long BufferFloats(PhasedInputRows rows) => rows.Floats + rows.RowLength;

    public static long WorkspaceFloats(ConvProblem p)
    {
        var rows = new PhasedInputRows(p);
        return BufferFloats(rows) + (long)p.Kg * p.KerSpatial * DepthwiseBlocking.AccumulatorFloats + 2L * p.OutSpatial * p.KerSpatial;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        using var plane = new NativeBuffer<float>(BufferFloats(_rows));
        using var accBuffer = new NativeBuffer<float>((long)Math.Min(p.Kg, end - begin) * tapFloats);
        using var srcBuffer = new NativeBuffer<nint>(_taps.Count);
        float* buf = plane.Pointer;
        NativeMemory.Clear(buf, (nuint)BufferFloats(_rows) * sizeof(float));
        float* acc = accBuffer.Pointer;
        float** src = (float**)srcBuffer.Pointer;
        int outRows = p.Out[0] * p.Out[1], width = p.Out[2];
        fixed (nint* offset = _taps.Offset)
        {
            for (int t = 0; t < _taps.Count; t++)
            {
                src[t] = buf + offset[t];
            }
            for (int first = begin; first < end;)
            {
                int c = first / p.Kg;
                int last = Math.Min(end, (c + 1) * p.Kg);
                new Span<float>(acc, (last - first) * tapFloats).Clear();
                for (int n = 0; n < p.N; n++)
                {
                    _rows.Fill<TMath>(_x + ((long)n * p.C + c) * p.InSpatial, buf);
                    for (int k = first; k < last; k++)
                    {
                        float* accK = acc + (long)(k - first) * tapFloats;
                        float* dyPlane = _dy + ((long)n * p.K + k) * p.OutSpatial;
                        TMath.DotAccumulatePlane(dyPlane, outRows, width, src, p.KerSpatial, accK);
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
}
