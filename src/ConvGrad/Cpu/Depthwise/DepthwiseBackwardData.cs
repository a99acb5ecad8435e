using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise backward-data by stride phases: <c>dx[n,c,i] = Σ_m Σ_r [o·s + r·d − p = i] · dy[n, c·M + m, o] · w[c·M + m, 0, r]</c>,
/// dY <c>[N, K, P_d, P_h, P_w]</c>, W <c>[K, 1, R_d, R_h, R_w]</c>, dX <c>[N, C, D, H, W]</c>, channel multiplier <c>M = K/C</c>.
/// </summary>
/// <remarks>
/// Along the width, write <c>i = ρ + t·s</c>: the taps reaching phase ρ are <c>T(ρ) = {r : (ρ + p − r·d) mod s = 0}</c>, each
/// reading <c>dy[t + (ρ + p − r·d)/s]</c>, so each phase is a stride-1 correlation of a zero-padded dY row
/// (<see cref="PaddedGradientRows"/>) with its sub-kernel. Along depth and height each dX row simply gathers the
/// (r_d, r_h) whose division by the stride is exact and lands inside dY. No zero-inserted dY is ever built, no tap
/// multiplies a structural zero, and positions no tap reaches (empty phases, trailing rows) are written as exact
/// zeros. Units are (n, c) planes; every dX element is written by exactly one unit.
/// </remarks>
internal sealed unsafe class DepthwiseBackwardData<TMath> : IPartitionedWork
    where TMath : struct, IRowMath
{
    private readonly ConvProblem _p;
    private readonly float* _dy, _w, _dx;
    private readonly PaddedGradientRows _rows;
    private readonly int _phases;
    private readonly int[] _phaseStart;   // taps of width phase ρ are _tapColumn/_tapOffset[_phaseStart[ρ] .. _phaseStart[ρ + 1])
    private readonly int[] _tapColumn, _tapOffset;
    private readonly TapTable _taps;

    public DepthwiseBackwardData(ConvProblem p, float* dy, float* w, float* dx)
    {
        _p = p;
        _dy = dy;
        _w = w;
        _dx = dx;
        (_phases, _phaseStart, _tapColumn, _tapOffset, _rows) = PhaseTaps(p);
        _taps = BuildTable();
    }

    /// <summary>One entry per (dX row, width phase): the taps over all M gradient planes, kernel rows and the phase's kernel columns.</summary>
    private TapTable BuildTable()
    {
        var p = _p;
        var table = new TapTable();
        for (int iz = 0; iz < p.In[0]; iz++)
        for (int iy = 0; iy < p.In[1]; iy++)
        for (int rho = 0; rho < _phases; rho++)
        {
            for (int m = 0; m < p.Kg; m++)
            for (int rz = 0; rz < p.Ker[0]; rz++)
            {
                if (!GradientIndex(iz, rz, p, 0, out int oz))
                {
                    continue;
                }
                for (int ry = 0; ry < p.Ker[1]; ry++)
                {
                    if (!GradientIndex(iy, ry, p, 1, out int oy))
                    {
                        continue;
                    }
                    nint row = (nint)m * (nint)_rows.Floats + (nint)(oz * p.Out[1] + oy) * _rows.RowLength + _rows.Left;
                    for (int q = _phaseStart[rho]; q < _phaseStart[rho + 1]; q++)
                    {
                        table.Add(row + _tapOffset[q], m * p.KerSpatial + (rz * p.Ker[1] + ry) * p.Ker[2] + _tapColumn[q]);
                    }
                }
            }
            table.EndEntry();
        }
        return table.Seal();
    }

    private static (int Phases, int[] Start, int[] Column, int[] Offset, PaddedGradientRows Rows) PhaseTaps(ConvProblem p)
    {
        int s = p.Stride[2], phases = Math.Min(s, p.In[2]);
        var start = new int[phases + 1];
        var column = new List<int>();
        var offset = new List<int>();
        int minOff = 0, maxOff = 0;
        for (int rho = 0; rho < phases; rho++)
        {
            start[rho] = column.Count;
            for (int rx = 0; rx < p.Ker[2]; rx++)
            {
                int v = rho + p.Pad[2] - rx * p.Dil[2];
                if (v % s == 0)
                {
                    column.Add(rx);
                    offset.Add(v / s);
                    minOff = Math.Min(minOff, v / s);
                    maxOff = Math.Max(maxOff, v / s);
                }
            }
        }
        start[phases] = column.Count;
        int longestPhase = DepthwiseBlocking.CeilDiv(p.In[2], s);
        var rows = new PaddedGradientRows(p, -minOff, DepthwiseBlocking.RoundUp(longestPhase, DepthwiseBlocking.TileFloats) + maxOff);
        return (phases, start, column.ToArray(), offset.ToArray(), rows);
    }

    public static long WorkspaceFloats(ConvProblem p)
    {
        var rows = PhaseTaps(p).Rows;
        long taps = (long)p.In[0] * p.In[1] * p.Kg * p.KerSpatial; // at most: every tap reaches one phase of each row
        return p.Kg * rows.Floats + 2L * taps + 2L * PhaseRowFloats(p);
    }

    /// <summary>Scratch floats of one width phase (the longest, padded to whole tiles).</summary>
    private static int PhaseRowFloats(ConvProblem p) =>
        DepthwiseBlocking.RoundUp(DepthwiseBlocking.CeilDiv(p.In[2], p.Stride[2]), DepthwiseBlocking.TileFloats);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.N * p.C, part, parts);
        if (begin >= end)
        {
            return;
        }
        int sx = p.Stride[2], width = p.In[2], inRows = p.In[0] * p.In[1], count = _taps.Count;
        int phaseFloats = PhaseRowFloats(p);
        using var planes = new NativeBuffer<float>(p.Kg * _rows.Floats);
        using var srcBuffer = new NativeBuffer<nint>(count);
        using var phaseBuffer = new NativeBuffer<float>(2L * phaseFloats);
        float* buf = planes.Pointer;
        for (int m = 0; m < p.Kg; m++)
        {
            _rows.Clear(buf + m * _rows.Floats);
        }
        float** src = (float**)srcBuffer.Pointer;
        float* phaseRow = phaseBuffer.Pointer;
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
                for (int m = 0; m < p.Kg; m++)
                {
                    _rows.Fill(_dy + ((long)n * p.K + c * p.Kg + m) * p.OutSpatial, buf + m * _rows.Floats);
                }
                float* wc = _w + (long)c * p.Kg * p.KerSpatial;
                float* dxRow = _dx + (long)unit * p.InSpatial;
                if (sx == 1)
                {
                    // One phase: entry e is row e; rows go in pairs.
                    int row = 0;
                    for (; row + 1 < inRows; row += 2, dxRow += 2 * width)
                    {
                        TMath.MultiplyAccumulate2(dxRow, dxRow + width, width, 0f,
                            src + start[row], kernel + start[row], start[row + 1] - start[row],
                            src + start[row + 1], kernel + start[row + 1], start[row + 2] - start[row + 1], wc);
                    }
                    if (row < inRows)
                    {
                        TMath.MultiplyAccumulate(dxRow, width, 0f, src + start[row], kernel + start[row], wc, start[row + 1] - start[row]);
                    }
                    continue;
                }
                for (int row = 0, e = 0; row < inRows; row++, dxRow += width)
                {
                    if (sx == 2 && _phases == 2)
                    {
                        // Both width phases of the row together, then merged back in place.
                        TMath.MultiplyAccumulate2(phaseRow, phaseRow + phaseFloats, DepthwiseBlocking.CeilDiv(width, 2), 0f,
                            src + start[e], kernel + start[e], start[e + 1] - start[e],
                            src + start[e + 1], kernel + start[e + 1], start[e + 2] - start[e + 1], wc);
                        TMath.Interleave2(phaseRow, phaseRow + phaseFloats, dxRow, width);
                        e += 2;
                        continue;
                    }
                    for (int rho = 0; rho < _phases; rho++, e++)
                    {
                        int phaseWidth = DepthwiseBlocking.CeilDiv(width - rho, sx);
                        TMath.MultiplyAccumulate(phaseRow, phaseWidth, 0f, src + start[e], kernel + start[e], wc, start[e + 1] - start[e]);
                        Scatter(phaseRow, phaseWidth, dxRow + rho, sx);
                    }
                }
            }
        }
    }

    /// <summary>Scatters phase ρ back into its columns ρ + t·s of the dX row (stride 2 has a vector interleave instead).</summary>
    private static void Scatter(float* phase, int count, float* dst, int stride)
    {
        for (int t = 0; t < count; t++)
        {
            dst[(long)t * stride] = phase[t];
        }
    }

    /// <summary>o·s + r·d − p = i  ⇔  o = (i + p − r·d)/s, which must be a whole number inside [0, P).</summary>
    private static bool GradientIndex(int i, int r, ConvProblem p, int axis, out int o)
    {
        int v = i + p.Pad[axis] - r * p.Dil[axis];
        o = v / p.Stride[axis];
        return v >= 0 && v % p.Stride[axis] == 0 && o < p.Out[axis];
    }
}
