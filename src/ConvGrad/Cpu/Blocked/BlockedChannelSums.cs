using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// <c>s[c] = Σ_n Σ_positions t[n, c, ...]</c> over channel-blocked storage <c>[n, ⌈c/bs⌉, spatial, bs]</c> — the bias
/// gradient of a blocked <c>dy</c>. One fixed order, whatever the caller: each image's positions summed lane-wise
/// (8 lanes per vector), then the images added in order; the zero tail lanes of the last block are dropped.
/// </summary>
internal static class BlockedChannelSums
{
    /// <summary>Overwrites <paramref name="sums"/> (<paramref name="c"/> elements) with the channel sums of <paramref name="blocked"/>.</summary>
    public static void Compute(ReadOnlySpan<float> blocked, int n, int c, int bs, int spatial, Span<float> sums)
    {
        int cb = (c + bs - 1) / bs;
        sums[..c].Clear();
        Span<float> lanes = stackalloc float[16];
        for (int blk = 0; blk < cb; blk++)
        {
            int real = Math.Min(bs, c - blk * bs);
            for (int img = 0; img < n; img++)
            {
                var plane = blocked.Slice((img * cb + blk) * spatial * bs, spatial * bs);
                for (int l = 0; l < bs; l += 8)
                {
                    var acc = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        acc += Vector256.Create(plane.Slice(i * bs + l, 8));
                    }
                    acc.CopyTo(lanes[l..]);
                }
                for (int l = 0; l < real; l++)
                {
                    sums[blk * bs + l] += lanes[l];
                }
            }
        }
    }
}
