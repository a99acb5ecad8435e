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

    /// <summary>
    /// Converts between NCHW <paramref name="nchw"/> <c>[n, c, s]</c> and blocked <paramref name="blocked"/>
    /// <c>[n, ⌈c/bs⌉, s, bs]</c> (both pinned or native), in the direction <paramref name="toBlocked"/>, reusing the
    /// caller's <paramref name="work"/> object so a repeated conversion allocates nothing.
    /// </summary>
    public static void Run(Reorder work, float* nchw, float* blocked, int n, int c, int bs, int s, bool toBlocked, int threads)
    {
        work.Set(nchw, blocked, n, c, bs, s, toBlocked);
        int items = n * ((c + bs - 1) / bs);
        long length = (long)items * bs * s;
        int parts = length < ParallelThreshold ? 1 : Math.Min(threads, items);
        if (parts <= 1)
        {
            work.Run(0, 1);
        }
        else
        {
            WorkerPool.Run(work, parts);
        }
    }

    /// <summary>One conversion, reusable: <see cref="Set"/> then run; the memory must not move while it runs.</summary>
    internal sealed class Reorder : IPartitionedWork
    {
        private float* _nchw, _blocked;
        private int _n, _c, _bs, _s;
        private bool _toBlocked;

        /// <summary>Sets the tensors and shape of the next run.</summary>
        public void Set(float* nchw, float* blocked, int n, int c, int bs, int s, bool toBlocked)
        {
            _nchw = nchw; _blocked = blocked; _n = n; _c = c; _bs = bs; _s = s; _toBlocked = toBlocked;
        }

        public void Run(int part, int parts)
        {
            int n = _n, c = _c, bs = _bs, s = _s, cb = (c + bs - 1) / bs;
            int items = n * cb;
            int begin = (int)((long)items * part / parts), end = (int)((long)items * (part + 1) / parts);
            for (int item = begin; item < end; item++)
            {
                int img = item / cb, block = item % cb;
                int c0 = block * bs, lanes = Math.Min(bs, c - c0);
                float* plain = _nchw + ((long)img * c + c0) * s;
                float* blk = _blocked + (long)item * s * bs;
                if (_toBlocked)
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
    private static void Gather(float* plain, float* blk, int s, int bs, int lanes) => Gather(plain, s, blk, s, bs, lanes);

    /// <summary>
    /// <c>blk[p·bs + l] = plain[l·laneStride + p]</c> for lanes l &lt; <paramref name="lanes"/>, pixels p &lt;
    /// <paramref name="pixels"/>: <paramref name="pixels"/> consecutive pixels of up to one block of NCHW channels
    /// <paramref name="laneStride"/> floats apart (a whole plane, or one row of it) into one block; lanes past
    /// <paramref name="lanes"/> are left as they are.
    /// </summary>
    internal static void Gather(float* plain, long laneStride, float* blk, int pixels, int bs, int lanes)
    {
        int full = Transposes.IsSupported ? lanes / 8 * 8 : 0;
        int s8 = pixels / 8 * 8;
        for (int l0 = 0; l0 < full; l0 += 8)
        {
            for (int p = 0; p < s8; p += 8)
            {
                Transposes.Transpose8x8(plain + l0 * laneStride + p, (nint)laneStride, blk + (long)p * bs + l0, bs);
            }
            for (int l = l0; l < l0 + 8; l++)
            {
                for (int p = s8; p < pixels; p++)
                {
                    blk[(long)p * bs + l] = plain[l * laneStride + p];
                }
            }
        }
        for (int l = full; l < lanes; l++)
        {
            float* row = plain + l * laneStride;
            for (int p = 0; p < pixels; p++)
            {
                blk[(long)p * bs + l] = row[p];
            }
        }
    }

    /// <summary><c>plain[l·s + p] = blk[p·bs + l]</c>: the inverse of <see cref="Gather(float*, float*, int, int, int)"/>.</summary>
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
