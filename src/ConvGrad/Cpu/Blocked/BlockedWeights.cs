namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Weights reblocked once for the direct kernels (oneDNN's <c>OIhw16i16o</c> and its transpose), from PyTorch's
/// <c>[K, C/G, k...]</c>. Channels past a group's count in its last block are zero, so padded lanes contribute nothing.
/// Each function can reblock into the array of an earlier call (<c>reuse</c>), so a plan that reblocks every call allocates once.
/// </summary>
internal static class BlockedWeights
{
    /// <summary>
    /// Forward blocks <c>[G][K-block][C-block][taps][c lane][k lane]</c>: for one tap and input lane, the vector of the
    /// block's output channels, which the forward tile loads while it broadcasts the input value.
    /// </summary>
    public static float[] Forward(BlockedGeometry g, ReadOnlySpan<float> w, float[]? reuse = null)
    {
        int b = g.B, t = g.Taps;
        var dst = Array(reuse, g.G * g.KbG * g.CbG * t * b * b);
        for (int grp = 0; grp < g.G; grp++)
        for (int k = 0; k < g.Kg; k++)
        for (int c = 0; c < g.Cg; c++)
        for (int tap = 0; tap < t; tap++)
        {
            long block = ((long)(grp * g.KbG + k / b) * g.CbG + c / b) * t + tap;
            dst[(block * b + c % b) * b + k % b] = w[((grp * g.Kg + k) * g.Cg + c) * t + tap];
        }
        return dst;
    }

    /// <summary>
    /// Backward-data blocks <c>[G][C-block][K-block][taps][k lane][c lane]</c>: the transpose, so the dX tile loads a
    /// vector of input channels for one output channel while it broadcasts dY.
    /// </summary>
    public static float[] Transposed(BlockedGeometry g, ReadOnlySpan<float> w, float[]? reuse = null)
    {
        int b = g.B, t = g.Taps;
        var dst = Array(reuse, g.G * g.KbG * g.CbG * t * b * b);
        for (int grp = 0; grp < g.G; grp++)
        for (int k = 0; k < g.Kg; k++)
        for (int c = 0; c < g.Cg; c++)
        for (int tap = 0; tap < t; tap++)
        {
            long block = ((long)(grp * g.CbG + c / b) * g.KbG + k / b) * t + tap;
            dst[(block * b + k % b) * b + c % b] = w[((grp * g.Kg + k) * g.Cg + c) * t + tap];
        }
        return dst;
    }

    /// <summary>The bias padded to whole blocks (<c>Kb·B</c> floats; with groups, K-blocks never straddle groups).</summary>
    public static float[] Bias(BlockedGeometry g, ReadOnlySpan<float> bias, float[]? reuse = null)
    {
        var dst = Array(reuse, g.Kb * g.B);
        bias.CopyTo(dst);
        return dst;
    }

    /// <summary>Depthwise blocks <c>[C-block][taps][lane]</c>: per tap, the vector of the block's channels' weights.</summary>
    public static float[] Depthwise(BlockedGeometry g, ReadOnlySpan<float> w, float[]? reuse = null)
    {
        int b = g.B, t = g.Taps;
        var dst = Array(reuse, g.Cb * t * b);
        for (int c = 0; c < g.C; c++)
        for (int tap = 0; tap < t; tap++)
        {
            dst[(c / b * t + tap) * b + c % b] = w[c * t + tap];
        }
        return dst;
    }

    /// <summary>
    /// <paramref name="reuse"/> when it has <paramref name="length"/> floats (an earlier reblock of the same geometry,
    /// whose padded lanes are still zero: every reblock writes the same positions), else a new zeroed pinned array.
    /// </summary>
    private static float[] Array(float[]? reuse, int length) =>
        reuse is not null && reuse.Length == length ? reuse : GC.AllocateArray<float>(length, pinned: true);
}
