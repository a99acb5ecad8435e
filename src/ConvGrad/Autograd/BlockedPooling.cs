using System.Buffers;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Max pooling of the blocked storage <c>[N, ⌈C/B⌉, H, W, B]</c>, the B channels of a pixel as vector lanes: the same
    /// window scan, tie rule (first maximum in row-major order) and NaN rule as <see cref="MaxPool2d{T}"/>. The result
    /// is blocked; zero tail lanes stay zero.
    /// </summary>
    private static unsafe Variable<float> BlockedMaxPool2d(Variable<float> x, PoolWindow win)
    {
        var b = ChannelBlocking.Of(x.Value);
        int n = b.N, h = x.Shape[2], w = x.Shape[3], bs = b.BlockSize;
        int ho = win.Out(h, "MaxPool2d"), wo = win.Out(w, "MaxPool2d");
        var y = Empty<float>([n, b.C, ho, wo], x.Format);
        var argmax = ArrayPool<int>.Shared.Rent((int)y.Length);
        int planes = n * b.ChannelBlocks, k = win.Kernel, s = win.Stride, p = win.Padding;
        var iota = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        fixed (float* xs = x.Value.ReadOnlySpan, ys = y.Span)
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
        if (!Records(x))
        {
            ArrayPool<int>.Shared.Return(argmax);
            return new Variable<float>(y) { Threads = x.Threads };
        }
        return new Variable<float>(y, new MaxPoolNode<float>(x, argmax)) { Threads = x.Threads };
    }

    /// <summary>
    /// Average pooling (count_include_pad on) of the blocked storage, lane-wise; the backward pass spreads
    /// <c>dy/k²</c> over each window in the same layout. Zero tail lanes stay zero.
    /// </summary>
    private static Variable<float> BlockedAvgPool2d(Variable<float> x, PoolWindow win)
    {
        var b = ChannelBlocking.Of(x.Value);
        int n = b.N, h = x.Shape[2], w = x.Shape[3], bs = b.BlockSize;
        int ho = win.Out(h, "AvgPool2d"), wo = win.Out(w, "AvgPool2d");
        var y = Empty<float>([n, b.C, ho, wo], x.Format);
        var xs = x.Value.ReadOnlySpan;
        var ys = y.Span;
        int planes = n * b.ChannelBlocks, k = win.Kernel, s = win.Stride, p = win.Padding;
        float inv = 1f / (k * k);
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
                        var sum = Vector256<float>.Zero;
                        for (int r = r0; r < r1; r++)
                        {
                            for (int c = c0; c < c1; c++)
                            {
                                sum += Vector256.Create(xs.Slice(inBase + (r * w + c) * bs + l, 8));
                            }
                        }
                        (sum * inv).CopyTo(ys.Slice(o + l, 8));
                    }
                }
            }
        }
        return Records(x)
            ? new Variable<float>(y, new BlockedAvgPoolNode(x, win)) { Threads = x.Threads }
            : new Variable<float>(y) { Threads = x.Threads };
    }

    /// <summary>
    /// Global average pooling of the blocked storage into an NCHW <c>[N, C, 1, ...]</c> result (an edge of a blocked
    /// chain: the features come out in PyTorch's channel order for the flatten and linear head that follow).
    /// </summary>
    private static Variable<float> BlockedGlobalAvgPool(Variable<float> x)
    {
        var b = ChannelBlocking.Of(x.Value);
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial;
        int[] shape = [n, c, .. Enumerable.Repeat(1, x.Shape.Length - 2)];
        var y = Empty<float>(shape);
        var xs = x.Value.ReadOnlySpan;
        var ys = y.Span;
        float inv = 1f / spatial;
        Span<float> lanes = stackalloc float[16];
        for (int img = 0; img < n; img++)
        {
            for (int blk = 0; blk < cb; blk++)
            {
                var plane = xs.Slice((img * cb + blk) * spatial * bs, spatial * bs);
                for (int l = 0; l < bs; l += 8)
                {
                    var sum = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        sum += Vector256.Create(plane.Slice(i * bs + l, 8));
                    }
                    (sum * inv).CopyTo(lanes[l..]);
                }
                int real = Math.Min(bs, c - blk * bs);
                lanes[..real].CopyTo(ys.Slice(img * c + blk * bs, real));
            }
        }
        return Records(x) ? new Variable<float>(y, new BlockedGlobalAvgPoolNode(x)) : new Variable<float>(y);
    }

    private sealed class BlockedAvgPoolNode(Variable<float> x, PoolWindow win) : Node<float>(x)
    {
        public override string Name => "AvgPool2DBackward";

        protected override void Backward(Tensor<float> dy)
        {
            var b = ChannelBlocking.Of(Inputs[0].Value);
            int h = Inputs[0].Shape[2], w = Inputs[0].Shape[3], bs = b.BlockSize, ho = dy.Dim(2), wo = dy.Dim(3);
            int planes = b.N * b.ChannelBlocks, k = win.Kernel, s = win.Stride, p = win.Padding;
            float inv = 1f / (k * k);
            var dx = ZerosLike(Inputs[0]);
            var g = dx.Span;
            var d = dy.ReadOnlySpan;
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
                            var v = Vector256.Create(d.Slice(o + l, 8)) * inv;
                            for (int r = r0; r < r1; r++)
                            {
                                for (int c = c0; c < c1; c++)
                                {
                                    var at = g.Slice(inBase + (r * w + c) * bs + l, 8);
                                    (Vector256.Create(at) + v).CopyTo(at);
                                }
                            }
                        }
                    }
                }
            }
            Propagate(0, dx, owned: true);
        }
    }

    private sealed class BlockedGlobalAvgPoolNode(Variable<float> x) : Node<float>(x)
    {
        public override string Name => "AdaptiveAvgPool2DBackward";

        protected override void Backward(Tensor<float> dy)
        {
            var b = ChannelBlocking.Of(Inputs[0].Value);
            int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial;
            float inv = 1f / spatial;
            var dx = EmptyLike(Inputs[0]);
            var g = dx.Span;
            var d = dy.ReadOnlySpan;
            Span<float> lanes = stackalloc float[16];
            for (int img = 0; img < n; img++)
            {
                for (int blk = 0; blk < cb; blk++)
                {
                    lanes.Clear();
                    int real = Math.Min(bs, c - blk * bs);
                    for (int l = 0; l < real; l++)
                    {
                        lanes[l] = d[img * c + blk * bs + l] * inv;
                    }
                    var plane = g.Slice((img * cb + blk) * spatial * bs, spatial * bs);
                    for (int i = 0; i < spatial; i++)
                    {
                        lanes[..bs].CopyTo(plane.Slice(i * bs, bs));
                    }
                }
            }
            Propagate(0, dx, owned: true);
        }
    }
}
