namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The valid-tap enumeration of the blocked kernels, written once: which kernel rows (depth × height taps) and which
/// width taps of a row meet the tensor they read, for the forward pass (and backward-weight, which reads the same
/// input rows) and for backward-data (which reads dY by stride phases). Per axis:
/// <list type="bullet">
/// <item>forward: output <c>o</c> and tap <c>r</c> read input <c>i = o·s + r·d − p</c>, valid when <c>0 ≤ i &lt; in</c>;</item>
/// <item>backward-data: input <c>i</c> and tap <c>r</c> receive from output <c>o = (i + p − r·d)/s</c>, valid when the
/// division is exact and <c>0 ≤ o &lt; out</c> (no zero is ever inserted into dY).</item>
/// </list>
/// </summary>
internal static unsafe class KernelRows
{
    /// <summary>
    /// The kernel rows (rz, ry) that output row (<paramref name="oz"/>, <paramref name="oy"/>) reads inside the input:
    /// <c>rowX[n] = xBase + (iz·ih + iy)·xScale</c> and <c>rowW[n] = wBase + (rz·kh + ry)·wScale</c> for the n-th, in
    /// (rz, ry) order. Returns how many.
    /// </summary>
    public static int Forward(BlockedGeometry g, int oz, int oy, nint* rowX, nint xBase, nint xScale, nint* rowW, nint wBase, nint wScale) =>
        Enumerate(g, transposed: false, oz, oy, rowX, xBase, xScale, rowW, wBase, wScale);

    /// <summary>
    /// The kernel rows (rz, ry) whose dY row reaches input row (<paramref name="iz"/>, <paramref name="iy"/>):
    /// <c>rowX[n] = xBase + (tz·oh + ty)·xScale</c> (the dY row) and <c>rowW[n] = wBase + (rz·kh + ry)·wScale</c>, in (rz, ry)
    /// order. Returns how many.
    /// </summary>
    public static int BackwardData(BlockedGeometry g, int iz, int iy, nint* rowX, nint xBase, nint xScale, nint* rowW, nint wBase, nint wScale) =>
        Enumerate(g, transposed: true, iz, iy, rowX, xBase, xScale, rowW, wBase, wScale);

    /// <summary>
    /// The width taps of backward-data's stride phase <paramref name="rho"/> (dX columns <c>rho + t·s</c>): the first tap
    /// <c>First</c> (−1 when none reaches the phase), then every <c>s/gcd(s, d)</c>-th, <c>Count</c> in all; dX column
    /// <c>t</c> of the phase reads dY column <c>t + Offset − m·d/gcd(s, d)</c> for its m-th tap.
    /// </summary>
    public static (int First, int Count, int Offset) WidthPhase(BlockedGeometry g, int rho)
    {
        int kw = g.Ker[2], sw = g.S[2], dw = g.D[2], pw = g.P[2];
        int q = sw / BlockedGeometry.Gcd(sw, dw);
        for (int r = 0; r < kw && r < q; r++)
        {
            if (((rho + pw - r * dw) % sw + sw) % sw == 0)
            {
                return (r, (kw - 1 - r) / q + 1, (rho + pw - r * dw) / sw);
            }
        }
        return (-1, 0, 0);
    }

    /// <summary>The output columns <c>[Lo, Hi)</c> whose input column <c>o·s + rx·d − p</c> lies inside the row (forward and backward-weight).</summary>
    public static (int Lo, int Hi) WidthRange(BlockedGeometry g, int rx) => OutputRange(g, 2, rx);

    /// <summary>
    /// The outputs <c>[Lo, Hi)</c> along <paramref name="axis"/> (0: depth, 1: height, 2: width) whose input
    /// <c>o·s + r·d − p</c> for tap <paramref name="r"/> lies inside the input (forward and backward-weight); empty when none.
    /// </summary>
    public static (int Lo, int Hi) OutputRange(BlockedGeometry g, int axis, int r)
    {
        int s = g.S[axis], size = g.In[axis];
        int shift = r * g.D[axis] - g.P[axis];
        int lo = shift >= 0 ? 0 : (-shift + s - 1) / s;
        int hi = Math.Min(g.Out[axis], size - 1 - shift < 0 ? 0 : (size - 1 - shift) / s + 1);
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>The output columns <c>[Lo, Hi)</c> whose every width tap lies inside the input row (forward); empty when none.</summary>
    public static (int Lo, int Hi) InteriorColumns(BlockedGeometry g)
    {
        int lo = 0, hi = g.Out[2];
        for (int rx = 0; rx < g.Ker[2]; rx++)
        {
            var (l, h) = WidthRange(g, rx);
            lo = Math.Max(lo, l);
            hi = Math.Min(hi, h);
        }
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>Index along axis <paramref name="axis"/> (0: depth, 1: height) that tap <paramref name="r"/> pairs with <paramref name="at"/>, or −1 when outside.</summary>
    private static int Source(BlockedGeometry g, bool transposed, int axis, int at, int r)
    {
        if (!transposed)
        {
            int i = at * g.S[axis] + r * g.D[axis] - g.P[axis];
            return (uint)i < (uint)g.In[axis] ? i : -1;
        }
        int t = at + g.P[axis] - r * g.D[axis];
        return t < 0 || t % g.S[axis] != 0 || t / g.S[axis] >= g.Out[axis] ? -1 : t / g.S[axis];
    }

    private static int Enumerate(BlockedGeometry g, bool transposed, int z, int y, nint* rowX, nint xBase, nint xScale, nint* rowW, nint wBase, nint wScale)
    {
        int kd = g.Ker[0], kh = g.Ker[1];
        int rows = transposed ? g.Out[1] : g.In[1];
        int n = 0;
        for (int rz = 0; rz < kd; rz++)
        {
            int sz = Source(g, transposed, 0, z, rz);
            if (sz < 0)
            {
                continue;
            }
            for (int ry = 0; ry < kh; ry++)
            {
                int sy = Source(g, transposed, 1, y, ry);
                if (sy < 0)
                {
                    continue;
                }
                rowX[n] = xBase + ((nint)sz * rows + sy) * xScale;
                rowW[n] = wBase + (nint)(rz * kh + ry) * wScale;
                n++;
            }
        }
        return n;
    }
}
