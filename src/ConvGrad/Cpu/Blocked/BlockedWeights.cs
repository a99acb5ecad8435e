namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Weights reblocked once for the direct kernels (oneDNN's <c>OIhw16i16o</c> and its transpose), from PyTorch's
/// <c>[K, C/G, k...]</c>. Channels past a group's count in its last block are zero, so padded lanes contribute nothing.
/// Each function can reblock into the buffer of an earlier call (<c>reuse</c>: same geometry, whose padded lanes are still
/// zero, as every reblock writes the same positions), so a plan that reblocks every call allocates once. Buffers are
/// 64-byte aligned (<see cref="AlignedFloats"/>), as the tiles load every weight vector whole.
/// </summary>
internal static class BlockedWeights
{
    /// <summary>
    /// Forward blocks <c>[G][K-block][C-block][taps][c lane][k lane]</c>: for one tap and input lane, the vector of the
    /// block's output channels, which the forward tile loads while it broadcasts the input value.
    /// </summary>
    public static AlignedFloats Forward(BlockedGeometry g, ReadOnlySpan<float> w, AlignedFloats? reuse = null) => Reblock(g, w, reuse, transposed: false);

    /// <summary>
    /// Backward-data blocks <c>[G][C-block][K-block][taps][k lane][c lane]</c>: the transpose, so the dX tile loads a
    /// vector of input channels for one output channel while it broadcasts dY.
    /// </summary>
    public static AlignedFloats Transposed(BlockedGeometry g, ReadOnlySpan<float> w, AlignedFloats? reuse = null) => Reblock(g, w, reuse, transposed: true);

    /// <summary>
    /// <see cref="Forward"/> (block <c>[K-block][C-block]</c>, lane pair (c, k) at <c>c·B + k</c>) or
    /// <see cref="Transposed"/> (<c>[C-block][K-block]</c>, at <c>k·B + c</c>). Block by block, so the reads (rows of
    /// c·taps) and the writes (one B·B·taps block) stay in L1; through pointers with the offsets stepped, not recomputed
    /// (it runs before every forward and dX call, on the caller's thread).
    /// </summary>
    private static unsafe AlignedFloats Reblock(BlockedGeometry g, ReadOnlySpan<float> w, AlignedFloats? reuse, bool transposed)
    {
        int b = g.B, t = g.Taps, bb = b * b;
        int length = g.G * g.KbG * g.CbG * t * bb;
        if (w.Length < g.G * g.Kg * g.Cg * t)
        {
            throw new ArgumentException($"the weights need {g.G * g.Kg * g.Cg * t} values; got {w.Length}", nameof(w));
        }
        var buffer = AlignedFloats.Reuse(reuse, length);
        float* dst = buffer.Pointer;
        // Lane steps: the output lane k and input lane c of a pair, within one tap's B·B floats.
        int kStep = transposed ? b : 1, cStep = transposed ? 1 : b;
        fixed (float* src = w)
        {
            for (int grp = 0; grp < g.G; grp++)
            for (int kb = 0; kb < g.KbG; kb++)
            for (int cb = 0; cb < g.CbG; cb++)
            {
                long block = transposed ? ((long)(grp * g.CbG + cb) * g.KbG + kb) * t : ((long)(grp * g.KbG + kb) * g.CbG + cb) * t;
                float* blockAt = dst + block * bb;
                int kEnd = Math.Min(b, g.Kg - kb * b), cEnd = Math.Min(b, g.Cg - cb * b);
                for (int kl = 0; kl < kEnd; kl++)
                {
                    float* row = src + (long)((grp * g.Kg + kb * b + kl) * g.Cg + cb * b) * t;
                    float* kAt = blockAt + kl * kStep;
                    for (int cl = 0; cl < cEnd; cl++, row += t)
                    {
                        float* at = kAt + cl * cStep;
                        for (int tap = 0; tap < t; tap++, at += bb)
                        {
                            *at = row[tap];
                        }
                    }
                }
            }
        }
        return buffer;
    }

    /// <summary>
    /// First-layer blocks <c>[K-block][c][taps][k lane]</c> (one group, few input channels, see <see cref="FlatInput"/>):
    /// per input channel and tap, the vector of the block's output channels, which the flat forward tile loads while it
    /// broadcasts a plain NCHW input value.
    /// </summary>
    public static AlignedFloats Flat(BlockedGeometry g, ReadOnlySpan<float> w, AlignedFloats? reuse = null)
    {
        int b = g.B, t = g.Taps;
        var buffer = AlignedFloats.Reuse(reuse, g.Kb * g.C * t * b);
        var dst = buffer.Span;
        for (int k = 0; k < g.K; k++)
        for (int c = 0; c < g.C; c++)
        for (int tap = 0; tap < t; tap++)
        {
            dst[((k / b * g.C + c) * t + tap) * b + k % b] = w[(k * g.C + c) * t + tap];
        }
        return buffer;
    }

    /// <summary>The bias padded to whole blocks (<c>Kb·B</c> floats; with groups, K-blocks never straddle groups).</summary>
    public static AlignedFloats Bias(BlockedGeometry g, ReadOnlySpan<float> bias, AlignedFloats? reuse = null)
    {
        var buffer = AlignedFloats.Reuse(reuse, g.Kb * g.B);
        var dst = buffer.Span;
        bias.CopyTo(dst);
        return buffer;
    }

    /// <summary>Depthwise blocks <c>[C-block][taps][lane]</c>: per tap, the vector of the block's channels' weights.</summary>
    public static AlignedFloats Depthwise(BlockedGeometry g, ReadOnlySpan<float> w, AlignedFloats? reuse = null)
    {
        int b = g.B, t = g.Taps;
        var buffer = AlignedFloats.Reuse(reuse, g.Cb * t * b);
        var dst = buffer.Span;
        for (int c = 0; c < g.C; c++)
        for (int tap = 0; tap < t; tap++)
        {
            dst[(c / b * t + tap) * b + c % b] = w[c * t + tap];
        }
        return buffer;
    }
}
