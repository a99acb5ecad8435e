using System.Runtime.CompilerServices;

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
    private readonly TapTable _taps;

    public DepthwiseForward(ConvProblem p, float* x, float* w, float* b, float* y)
    {
        _p = p;
        _x = x;
        _w = w;
        _b = b;
        _y = y;
        _rows = new PhasedInputRows(p);
        _taps = TapTable.ForOutputRows(p, _rows);
    }

    public static long WorkspaceFloats(ConvProblem p)
    {
        var rows = new PhasedInputRows(p);
        return rows.Floats + 2L * TapTable.ForOutputRows(p, rows).Count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.N * p.C, part, parts);
        if (begin >= end)
        {
            return;
        }
        using var plane = new NativeBuffer<float>(_rows.Floats);
        using var srcBuffer = new NativeBuffer<nint>(_taps.Count);
        float* buf = plane.Pointer;
        _rows.Clear(buf);
        float** src = (float**)srcBuffer.Pointer;
        int outRows = p.Out[0] * p.Out[1], width = p.Out[2], count = _taps.Count;
        fixed (int* start = _taps.Start, kernel = _taps.Kernel)
        fixed (nint* offset = _taps.Offset)
        {
            for (int t = 0; t < count; t++)
            {
                src[t] = buf + offset[t];
            }
            for (int unit = begin; unit < end; unit++)
            {
                int n = unit / p.C, c = unit % p.C;
                _rows.Fill<TMath>(_x + (long)unit * p.InSpatial, buf);
                for (int k = c * p.Kg; k < (c + 1) * p.Kg; k++)
                {
                    float* wk = _w + (long)k * p.KerSpatial;
                    float bias = _b == null ? 0f : _b[k];
                    float* yRow = _y + ((long)n * p.K + k) * p.OutSpatial;
                    int row = 0;
                    for (; row + 1 < outRows; row += 2, yRow += 2 * width)
                    {
                        TMath.MultiplyAccumulate2(yRow, yRow + width, width, bias,
                            src + start[row], kernel + start[row], start[row + 1] - start[row],
                            src + start[row + 1], kernel + start[row + 1], start[row + 2] - start[row + 1], wk);
                    }
                    if (row < outRows)
                    {
                        TMath.MultiplyAccumulate(yRow, width, bias, src + start[row], kernel + start[row], wk, start[row + 1] - start[row]);
                    }
                }
            }
        }
    }
}
