namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// The taps of every destination row of one plane, computed once per call: entry <c>e</c> owns taps
/// <c>Start[e] .. Start[e+1]</c>, tap <c>t</c> reading the source buffer at float offset <c>Offset[t]</c> with the
/// weight at kernel index <c>Kernel[t]</c>. Every plane of a call shares the table (its buffer is reused), so the
/// inner loops never test bounds or recompute index arithmetic.
/// </summary>
internal sealed class TapTable
{
    private readonly List<int> _start = [0];
    private readonly List<nint> _offset = [];
    private readonly List<int> _kernel = [];

    public int[] Start { get; private set; } = [];
    public nint[] Offset { get; private set; } = [];
    public int[] Kernel { get; private set; } = [];

    public int Count => _offset.Count;

    public void Add(nint offset, int kernel)
    {
        _offset.Add(offset);
        _kernel.Add(kernel);
    }

    public void EndEntry() => _start.Add(_offset.Count);

    public TapTable Seal()
    {
        Start = [.. _start];
        Offset = [.. _offset];
        Kernel = [.. _kernel];
        return this;
    }

    /// <summary>
    /// The forward / weight-gradient table: one entry per output row (oz, oy), holding for each in-bounds kernel
    /// row (r_d, r_h), in order, its R_w taps into the <see cref="PhasedInputRows"/> buffer.
    /// </summary>
    /// <param name="p">The problem.</param>
    /// <param name="rows">The layout of the rewritten input plane.</param>
    /// <param name="zeroRow">
    /// When given, kernel rows that fall outside the input are not dropped but read this offset (a row of zeros that
    /// the caller provides), so every entry has all <c>R_d·R_h·R_w</c> taps in kernel order: the weight gradient keeps
    /// one accumulator per tap across a whole plane at the price of a few multiplications by zero on border rows.
    /// </param>
    public static TapTable ForOutputRows(ConvProblem p, PhasedInputRows rows, nint? zeroRow = null)
    {
        var table = new TapTable();
        int sx = p.Stride[2];
        for (int oz = 0; oz < p.Out[0]; oz++)
        for (int oy = 0; oy < p.Out[1]; oy++)
        {
            for (int rz = 0; rz < p.Ker[0]; rz++)
            {
                int iz = oz * p.Stride[0] + rz * p.Dil[0] - p.Pad[0];
                bool zInside = (uint)iz < (uint)p.In[0];
                if (!zInside && zeroRow is null)
                {
                    continue;
                }
                for (int ry = 0; ry < p.Ker[1]; ry++)
                {
                    int iy = oy * p.Stride[1] + ry * p.Dil[1] - p.Pad[1];
                    bool inside = zInside && (uint)iy < (uint)p.In[1];
                    if (!inside && zeroRow is null)
                    {
                        continue;
                    }
                    for (int rx = 0; rx < p.Ker[2]; rx++)
                    {
                        int e = rx * p.Dil[2];
                        nint offset = inside ? rows.Offset(iz * p.In[1] + iy, e % sx) + e / sx : zeroRow!.Value;
                        table.Add(offset, (rz * p.Ker[1] + ry) * p.Ker[2] + rx);
                    }
                }
            }
            table.EndEntry();
        }
        return table.Seal();
    }
}
