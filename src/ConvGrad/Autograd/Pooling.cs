using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

/// <summary>Window geometry of 2-D pooling: <c>out = floor((in + 2·pad − k)/stride) + 1</c> (PyTorch, ceil_mode off).</summary>
internal readonly record struct PoolWindow(int Kernel, int Stride, int Padding)
{
    public static PoolWindow Create(int kernel, int? stride, int padding)
    {
        int s = stride ?? kernel;
        if (kernel < 1 || s < 1 || padding < 0 || 2 * padding > kernel)
        {
            throw new ArgumentException($"pooling needs kernel >= 1, stride >= 1 and 0 <= padding <= kernel/2; got kernel {kernel}, stride {s}, padding {padding}", nameof(kernel));
        }
        return new PoolWindow(kernel, s, padding);
    }

    public int Out(int input, string op)
    {
        if (input + 2 * Padding < Kernel)
        {
            throw new ArgumentException($"{op}: kernel {Kernel} is larger than the padded input {input} + 2·{Padding}", "x");
        }
        return (input + 2 * Padding - Kernel) / Stride + 1;
    }
}

public static partial class Functional
{
    /// <summary>
    /// 2-D max pooling (<c>F.max_pool2d</c>; stride defaults to the kernel): <c>y[n,c,i,j]</c> = the maximum of the window,
    /// padding never wins. Gradient: the whole <c>dy</c> of a window goes to the FIRST maximal element in row-major order
    /// (PyTorch's CPU choice); a NaN counts as the maximum; an element winning several windows collects their sum.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, C, H, W]</c>.</param>
    /// <param name="kernel">The window size on both axes.</param>
    /// <param name="stride">The step on both axes; null means the kernel size.</param>
    /// <param name="padding">Padding on each side of both axes.</param>
    public static Variable<T> MaxPool2d<T>(Variable<T> x, int kernel, int? stride = null, int padding = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.MaxPool);
        var win = PoolWindow.Create(kernel, stride, padding);
        return OpTrace.Record(MaxPool2dOf(x, win), TracedOpKind.MaxPool, win, x);
    }

    private static Variable<T> MaxPool2dOf<T>(Variable<T> x, PoolWindow win) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckRank(x, 4, "MaxPool2d", "[N, C, H, W]");
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        if (call.Format.IsBlocked())
        {
            return BlockedMaxPool2d(x, win, call);
        }
        var xv = x.Value;
        int planes = xv.Dim(0) * xv.Dim(1), h = xv.Dim(2), w = xv.Dim(3);
        int ho = win.Out(h, "MaxPool2d"), wo = win.Out(w, "MaxPool2d");
        var y = Empty<T>(xv.Dim(0), xv.Dim(1), ho, wo);
        var argmax = ArrayPool<int>.Shared.Rent((int)y.Length);
        var xs = xv.ReadOnlySpan;
        var ys = y.Span;
        int k = win.Kernel, s = win.Stride, p = win.Padding;
        if (k == 2 && s == 2 && p == 0)
        {
            MaxPool2x2(xs, ys, argmax, planes, h, w, ho, wo);
        }
        else
        {
            for (int pl = 0; pl < planes; pl++)
            {
                var plane = xs.Slice(pl * h * w, h * w);
                for (int i = 0; i < ho; i++)
                {
                    int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                    for (int j = 0; j < wo; j++)
                    {
                        int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                        int best = r0 * w + c0;
                        T m = plane[best];
                        for (int r = r0; r < r1; r++)
                        {
                            for (int c = c0; c < c1; c++)
                            {
                                T v = plane[r * w + c];
                                if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                                {
                                    m = v;
                                    best = r * w + c;
                                }
                            }
                        }
                        int o = (pl * ho + i) * wo + j;
                        ys[o] = m;
                        argmax[o] = pl * h * w + best;
                    }
                }
            }
        }
        if (!Records(x))
        {
            ArrayPool<int>.Shared.Return(argmax);
            return call.Output(y);
        }
        return call.Output(y, new MaxPoolNode<T>(x, argmax));
    }

    /// <summary>The common 2×2, stride 2, unpadded case: the same scan order and tie rule without window clipping.</summary>
    private static void MaxPool2x2<T>(ReadOnlySpan<T> xs, Span<T> ys, Span<int> arg, int planes, int h, int w, int ho, int wo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int pl = 0; pl < planes; pl++)
        {
            int basePl = pl * h * w;
            for (int i = 0; i < ho; i++)
            {
                int top = basePl + 2 * i * w;
                var row0 = xs.Slice(top, w);
                var row1 = xs.Slice(top + w, w);
                int o = (pl * ho + i) * wo;
                for (int j = 0; j < wo; j++)
                {
                    int c = 2 * j;
                    T m = row0[c];
                    int best = top + c;
                    T v = row0[c + 1];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + c + 1;
                    }
                    v = row1[c];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + w + c;
                    }
                    v = row1[c + 1];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + w + c + 1;
                    }
                    ys[o + j] = m;
                    arg[o + j] = best;
                }
            }
        }
    }

    /// <summary>
    /// 2-D average pooling (<c>F.avg_pool2d</c>, count_include_pad on; stride defaults to the kernel):
    /// <c>y = (1/k²)·Σ_window x</c>, padding counted as zeros. Gradient: each <c>dy/k²</c> spread over its window.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, C, H, W]</c>.</param>
    /// <param name="kernel">The window size on both axes.</param>
    /// <param name="stride">The step on both axes; null means the kernel size.</param>
    /// <param name="padding">Padding on each side of both axes.</param>
    public static Variable<T> AvgPool2d<T>(Variable<T> x, int kernel, int? stride = null, int padding = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.AvgPool);
        var win = PoolWindow.Create(kernel, stride, padding);
        return OpTrace.Record(AvgPool2dOf(x, win), TracedOpKind.AvgPool, win, x);
    }

    private static Variable<T> AvgPool2dOf<T>(Variable<T> x, PoolWindow win) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckRank(x, 4, "AvgPool2d", "[N, C, H, W]");
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        if (call.Format.IsBlocked())
        {
            return BlockedAvgPool2d(x, win, call);
        }
        var xv = x.Value;
        int planes = xv.Dim(0) * xv.Dim(1), h = xv.Dim(2), w = xv.Dim(3);
        int ho = win.Out(h, "AvgPool2d"), wo = win.Out(w, "AvgPool2d");
        var y = Empty<T>(xv.Dim(0), xv.Dim(1), ho, wo);
        var xs = xv.ReadOnlySpan;
        var ys = y.Span;
        int k = win.Kernel, s = win.Stride, p = win.Padding;
        T inv = T.One / T.CreateChecked(k * k);
        for (int pl = 0; pl < planes; pl++)
        {
            var plane = xs.Slice(pl * h * w, h * w);
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    T sum = T.Zero;
                    for (int r = r0; r < r1; r++)
                    {
                        sum += TensorPrimitives.Sum(plane.Slice(r * w + c0, c1 - c0));
                    }
                    ys[(pl * ho + i) * wo + j] = sum * inv;
                }
            }
        }
        return Records(x) ? call.Output(y, new AvgPoolNode<T>(x, win)) : call.Output(y);
    }

    /// <summary>
    /// Global average pooling (<c>F.adaptive_avg_pool2d(x, 1)</c>, any rank ≥ 3): <c>[N, C, ...] → [N, C, 1, ...]</c> holding each
    /// plane's mean. Gradient: <c>dy/positions</c> spread over the plane.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, C, H, W]</c>.</param>
    public static Variable<T> GlobalAvgPool<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.GlobalAvgPool);
        return OpTrace.Record(GlobalAvgPoolOf(x), TracedOpKind.GlobalAvgPool, (object?)null, x);
    }

    private static Variable<T> GlobalAvgPoolOf<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Value.Rank < 3)
        {
            throw new ArgumentException($"global average pooling expects [N, C, spatial...]; got {Shapes.Format(x.Shape)}", nameof(x));
        }
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        if (call.Format.IsBlocked())
        {
            return BlockedGlobalAvgPool(x, call);
        }
        var xv = x.Value;
        int planes = xv.Dim(0) * xv.Dim(1), plane = (int)(xv.Length / planes);
        int[] shape = [xv.Dim(0), xv.Dim(1), .. Enumerable.Repeat(1, xv.Rank - 2)];
        var y = Empty<T>(shape);
        var xs = xv.ReadOnlySpan;
        var ys = y.Span;
        T inv = T.One / T.CreateChecked(plane);
        for (int i = 0; i < planes; i++)
        {
            ys[i] = TensorPrimitives.Sum(xs.Slice(i * plane, plane)) * inv;
        }
        return Records(x) ? call.Output(y, new GlobalAvgPoolNode<T>(x)) : call.Output(y);
    }

    private sealed class MaxPoolNode<T>(Variable<T> x, int[] argmax) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private int[]? _argmax = argmax;

        public override string Name => "MaxPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = ZerosLike(Inputs[0]);
            var g = dx.Span;
            var d = dy.ReadOnlySpan;
            var arg = _argmax!;
            for (int o = 0; o < d.Length; o++)
            {
                g[arg[o]] += d[o];
            }
            Propagate(0, dx, owned: true);
        }

        protected override void Release()
        {
            ArrayPool<int>.Shared.Return(_argmax!);
            _argmax = null;
        }
    }

    private sealed class AvgPoolNode<T>(Variable<T> x, PoolWindow win) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "AvgPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var shape = Inputs[0].Shape;
            int planes = shape[0] * shape[1], h = shape[2], w = shape[3], ho = dy.Dim(2), wo = dy.Dim(3);
            int k = win.Kernel, s = win.Stride, p = win.Padding;
            T inv = T.One / T.CreateChecked(k * k);
            var dx = Zeros<T>(shape);
            var g = dx.Span;
            var d = dy.ReadOnlySpan;
            for (int pl = 0; pl < planes; pl++)
            {
                var plane = g.Slice(pl * h * w, h * w);
                for (int i = 0; i < ho; i++)
                {
                    int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                    for (int j = 0; j < wo; j++)
                    {
                        int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                        T v = d[(pl * ho + i) * wo + j] * inv;
                        for (int r = r0; r < r1; r++)
                        {
                            var row = plane.Slice(r * w + c0, c1 - c0);
                            TensorPrimitives.Add(row, v, row);
                        }
                    }
                }
            }
            Propagate(0, dx, owned: true);
        }
    }

    private sealed class GlobalAvgPoolNode<T>(Variable<T> x) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "AdaptiveAvgPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = EmptyLike(Inputs[0]);
            int planes = (int)dy.Length, plane = (int)(dx.Length / planes);
            T inv = T.One / T.CreateChecked(plane);
            var g = dx.Span;
            var d = dy.ReadOnlySpan;
            for (int i = 0; i < planes; i++)
            {
                g.Slice(i * plane, plane).Fill(d[i] * inv);
            }
            Propagate(0, dx, owned: true);
        }
    }
}
