using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Reorders between NCHW and the channel-blocked layout of <see cref="BlockedTensor"/>: one (image, channel block) per
/// work item, split statically over the <see cref="WorkerPool"/>; inside, 8 channels × 8 pixels move with one AVX 8×8
/// transpose (a 16-channel block is two of them), and only the edges (fewer than 8 channels or pixels) go element by element.
/// </summary>
internal static unsafe class BlockedLayout
{
    /// <summary>Below this many elements one thread converts (thread hand-off costs more than it saves).</summary>
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Writes NCHW <paramref name="x"/> into <paramref name="b"/> (same logical shape), zeroing the channel tail.</summary>
    public static void ToBlocked(Tensor<float> x, BlockedTensor b, int threads) =>
        Run(new Reorder((float*)Unsafe.AsPointer(ref x.DataRef), (float*)Unsafe.AsPointer(ref b.Storage.DataRef), b, toBlocked: true), b, threads);

    /// <summary>Writes <paramref name="b"/> into NCHW <paramref name="x"/> (same logical shape).</summary>
    public static void ToNchw(BlockedTensor b, Tensor<float> x, int threads) =>
        Run(new Reorder((float*)Unsafe.AsPointer(ref x.DataRef), (float*)Unsafe.AsPointer(ref b.Storage.DataRef), b, toBlocked: false), b, threads);

    private static void Run(Reorder work, BlockedTensor b, int threads)
    {
        int items = b.Shape[0] * b.ChannelBlocks;
        int parts = (long)b.Span.Length < ParallelThreshold ? 1 : Math.Min(threads, items);
        if (parts <= 1)
        {
            work.Run(0, 1);
        }
        else
        {
            WorkerPool.Run(work, parts);
        }
    }

    /// <summary>One conversion; the storage of both tensors is pinned (pinned object heap), so raw pointers stay valid.</summary>
    private sealed class Reorder(float* nchw, float* blocked, BlockedTensor b, bool toBlocked) : IPartitionedWork
    {
        public void Run(int part, int parts)
        {
            int n = b.Shape[0], c = b.Shape[1], cb = b.ChannelBlocks, bs = b.BlockSize, s = b.Spatial;
            int items = n * cb;
            int begin = (int)((long)items * part / parts), end = (int)((long)items * (part + 1) / parts);
            for (int item = begin; item < end; item++)
            {
                int img = item / cb, block = item % cb;
                int c0 = block * bs, lanes = Math.Min(bs, c - c0);
                float* plain = nchw + ((long)img * c + c0) * s;
                float* blk = blocked + (long)item * s * bs;
                if (toBlocked)
                {
                    if (lanes < bs)
                    {
                        new Span<float>(blk, s * bs).Clear();
                    }
                    Gather(plain, blk, s, bs, lanes);
                }
                else
                {
                    Scatter(blk, plain, s, bs, lanes);
                }
            }
        }
    }

    /// <summary><c>blk[p·bs + l] = plain[l·s + p]</c> for lanes l &lt; <paramref name="lanes"/>, pixels p &lt; <paramref name="s"/>.</summary>
    private static void Gather(float* plain, float* blk, int s, int bs, int lanes)
    {
        int full = Transposes.IsSupported ? lanes / 8 * 8 : 0;
        int s8 = s / 8 * 8;
        for (int l0 = 0; l0 < full; l0 += 8)
        {
            for (int p = 0; p < s8; p += 8)
            {
                Transposes.Transpose8x8(plain + (long)l0 * s + p, s, blk + (long)p * bs + l0, bs);
            }
            for (int l = l0; l < l0 + 8; l++)
            {
                for (int p = s8; p < s; p++)
                {
                    blk[(long)p * bs + l] = plain[(long)l * s + p];
                }
            }
        }
        for (int l = full; l < lanes; l++)
        {
            float* row = plain + (long)l * s;
            for (int p = 0; p < s; p++)
            {
                blk[(long)p * bs + l] = row[p];
            }
        }
    }

    /// <summary><c>plain[l·s + p] = blk[p·bs + l]</c>: the inverse of <see cref="Gather"/>.</summary>
    private static void Scatter(float* blk, float* plain, int s, int bs, int lanes)
    {
        int full = Transposes.IsSupported ? lanes / 8 * 8 : 0;
        int s8 = s / 8 * 8;
        for (int l0 = 0; l0 < full; l0 += 8)
        {
            for (int p = 0; p < s8; p += 8)
            {
                Transposes.Transpose8x8(blk + (long)p * bs + l0, bs, plain + (long)l0 * s + p, s);
            }
            for (int l = l0; l < l0 + 8; l++)
            {
                for (int p = s8; p < s; p++)
                {
                    plain[(long)l * s + p] = blk[(long)p * bs + l];
                }
            }
        }
        for (int l = full; l < lanes; l++)
        {
            float* row = plain + (long)l * s;
            for (int p = 0; p < s; p++)
            {
                row[p] = blk[(long)p * bs + l];
            }
        }
    }
}
