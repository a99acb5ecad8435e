using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// 2-D pooling on the channel-blocked storage <c>[N, ⌈C/B⌉, H, W, B]</c>, the B channels of a pixel as vector lanes
/// (one (image, channel block) plane after another). Windows: <c>out = floor((in + 2·p − k)/s) + 1</c>, padding never
/// read. The zero tail lanes stay zero. float runs on <see cref="Vector256{T}"/> lanes; float64 (gradient checks) on
/// the same loops one lane at a time.
/// </summary>
internal static unsafe class BlockedPooling
{
    /// <summary>
    /// <c>y[o] = max over the window of x</c>, <c>argmax[o]</c> = the storage index of the FIRST maximum in row-major
    /// order (a NaN counts as the maximum): the rule of the NCHW max pooling.
    /// </summary>
    public static void MaxPool<T>(ReadOnlySpan<T> x, Span<T> y, Span<int> argmax, ChannelBlocking b, int h, int w, int ho, int wo, int k, int s, int p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            MaxPoolFloat(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y), argmax, b, h, w, ho, wo, k, s, p);
            return;
        }
        int planes = b.N * b.ChannelBlocks, bs = b.BlockSize;
        for (int pl = 0; pl < planes; pl++)
        {
            int inBase = pl * h * w * bs;
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    int o = ((pl * ho + i) * wo + j) * bs;
                    for (int l = 0; l < bs; l++)
                    {
                        int best = inBase + (r0 * w + c0) * bs + l;
                        T m = x[best];
                        for (int r = r0; r < r1; r++)
                        {
                            for (int c = r == r0 ? c0 + 1 : c0; c < c1; c++)
                            {
                                int at = inBase + (r * w + c) * bs + l;
                                T v = x[at];
                                if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                                {
                                    m = v;
                                    best = at;
                                }
                            }
                        }
                        y[o + l] = m;
                        argmax[o + l] = best;
                    }
                }
            }
        }
    }

    private static void MaxPoolFloat(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, ChannelBlocking b, int h, int w, int ho, int wo, int k, int s, int p)
    {
        int planes = b.N * b.ChannelBlocks, bs = b.BlockSize;
        var iota = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        fixed (float* xs = x, ys = y)
        fixed (int* arg = argmax)
        {
            for (int pl = 0; pl < planes; pl++)
            {
                int inBase = pl * h * w * bs;
                for (int i = 0; i < ho; i++)
                {
                    int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                    for (int j = 0; j < wo; j++)
                    {
                        int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                        int o = ((pl * ho + i) * wo + j) * bs;
                        for (int l = 0; l < bs; l += 8)
                        {
                            int first = inBase + (r0 * w + c0) * bs + l;
                            var m = Vector256.Load(xs + first);
                            var best = Vector256.Create(first) + iota;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = r == r0 ? c0 + 1 : c0; c < c1; c++)
                                {
                                    int at = inBase + (r * w + c) * bs + l;
                                    var v = Vector256.Load(xs + at);
                                    // The first maximum in row-major order wins ties; a NaN counts as the maximum.
                                    var take = Vector256.GreaterThan(v, m) | (~Vector256.Equals(v, v) & Vector256.Equals(m, m));
                                    m = Vector256.ConditionalSelect(take, v, m);
                                    best = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(at) + iota, best);
                                }
                            }
                            m.Store(ys + o + l);
                            best.Store(arg + o + l);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Average pooling, count_include_pad on: <c>y = (1/k²)·Σ_window x</c>, lane-wise.</summary>
    public static void AvgPool<T>(ReadOnlySpan<T> x, Span<T> y, ChannelBlocking b, int h, int w, int ho, int wo, int k, int s, int p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int planes = b.N * b.ChannelBlocks, bs = b.BlockSize, lanes = Lanes<T>(bs);
        T inv = T.One / T.CreateChecked(k * k);
        for (int pl = 0; pl < planes; pl++)
        {
            int inBase = pl * h * w * bs;
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    int o = ((pl * ho + i) * wo + j) * bs;
                    for (int l = 0; l < bs; l += lanes)
                    {
                        if (lanes == Vector256<T>.Count)
                        {
                            var sum = Vector256<T>.Zero;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = c0; c < c1; c++)
                                {
                                    sum += Vector256.Create(x.Slice(inBase + (r * w + c) * bs + l, lanes));
                                }
                            }
                            (sum * inv).CopyTo(y.Slice(o + l, lanes));
                        }
                        else
                        {
                            T sum = T.Zero;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = c0; c < c1; c++)
                                {
                                    sum += x[inBase + (r * w + c) * bs + l];
                                }
                            }
                            y[o + l] = sum * inv;
                        }
                    }
                }
            }
        }
    }

    /// <summary>The gradient of <see cref="AvgPool{T}"/>: each <c>dy/k²</c> added over its window of the zeroed <paramref name="dx"/>.</summary>
    public static void AvgPoolBackward<T>(ReadOnlySpan<T> dy, Span<T> dx, ChannelBlocking b, int h, int w, int ho, int wo, int k, int s, int p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int planes = b.N * b.ChannelBlocks, bs = b.BlockSize, lanes = Lanes<T>(bs);
        T inv = T.One / T.CreateChecked(k * k);
        for (int pl = 0; pl < planes; pl++)
        {
            int inBase = pl * h * w * bs;
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    int o = ((pl * ho + i) * wo + j) * bs;
                    for (int l = 0; l < bs; l += lanes)
                    {
                        if (lanes == Vector256<T>.Count)
                        {
                            var v = Vector256.Create(dy.Slice(o + l, lanes)) * inv;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = c0; c < c1; c++)
                                {
                                    var at = dx.Slice(inBase + (r * w + c) * bs + l, lanes);
                                    (Vector256.Create<T>(at) + v).CopyTo(at);
                                }
                            }
                        }
                        else
                        {
                            T v = dy[o + l] * inv;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = c0; c < c1; c++)
                                {
                                    dx[inBase + (r * w + c) * bs + l] += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Global average pooling into the NCHW <c>[N, C]</c> means <paramref name="y"/> (the features come out in PyTorch's
    /// channel order): each plane's pixels summed lane-wise, then scaled by <c>1/spatial</c>.
    /// </summary>
    public static void GlobalAvgPool<T>(ReadOnlySpan<T> x, Span<T> y, ChannelBlocking b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial, lanes = Lanes<T>(bs);
        T inv = T.One / T.CreateChecked(spatial);
        Span<T> sums = stackalloc T[16];
        for (int img = 0; img < n; img++)
        {
            for (int blk = 0; blk < cb; blk++)
            {
                var plane = x.Slice((img * cb + blk) * spatial * bs, spatial * bs);
                for (int l = 0; l < bs; l += lanes)
                {
                    if (lanes == Vector256<T>.Count)
                    {
                        var sum = Vector256<T>.Zero;
                        for (int i = 0; i < spatial; i++)
                        {
                            sum += Vector256.Create(plane.Slice(i * bs + l, lanes));
                        }
                        (sum * inv).CopyTo(sums[l..]);
                    }
                    else
                    {
                        T sum = T.Zero;
                        for (int i = 0; i < spatial; i++)
                        {
                            sum += plane[i * bs + l];
                        }
                        sums[l] = sum * inv;
                    }
                }
                int real = Math.Min(bs, c - blk * bs);
                sums[..real].CopyTo(y.Slice(img * c + blk * bs, real));
            }
        }
    }

    /// <summary>The gradient of <see cref="GlobalAvgPool{T}"/>: <c>dy[n, c]/spatial</c> on every pixel of the plane, the tail lanes zero.</summary>
    public static void GlobalAvgPoolBackward<T>(ReadOnlySpan<T> dy, Span<T> dx, ChannelBlocking b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial;
        T inv = T.One / T.CreateChecked(spatial);
        Span<T> lanes = stackalloc T[16];
        for (int img = 0; img < n; img++)
        {
            for (int blk = 0; blk < cb; blk++)
            {
                lanes.Clear();
                int real = Math.Min(bs, c - blk * bs);
                for (int l = 0; l < real; l++)
                {
                    lanes[l] = dy[img * c + blk * bs + l] * inv;
                }
                var plane = dx.Slice((img * cb + blk) * spatial * bs, spatial * bs);
                for (int i = 0; i < spatial; i++)
                {
                    lanes[..bs].CopyTo(plane.Slice(i * bs, bs));
                }
            }
        }
    }

    /// <summary>The lanes one step covers: a <see cref="Vector256{T}"/> of float (8, dividing both blocks), else one.</summary>
    private static int Lanes<T>(int bs) where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) && bs % Vector256<T>.Count == 0 ? Vector256<T>.Count : 1;
}
