using System.Buffers;
using System.Numerics;
using ConvGrad.Cpu.Pooling;

namespace ConvGrad.Autograd;

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
        var xv = x.Value;
        int ho = win.Out(xv.Dim(2), "MaxPool2d"), wo = win.Out(xv.Dim(3), "MaxPool2d");
        var y = Empty<T>([xv.Dim(0), xv.Dim(1), ho, wo], call.Format);
        var argmax = ArrayPool<int>.Shared.Rent((int)y.Length);
        MaxPooling.Forward(xv.ReadOnlySpan, y.Span, argmax, PoolPlanes.Of(xv), ho, wo, win);
        if (!Records(x))
        {
            ArrayPool<int>.Shared.Return(argmax);
            return call.Output(y);
        }
        return call.Output(y, new MaxPoolNode<T>(x, argmax));
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
        var xv = x.Value;
        int ho = win.Out(xv.Dim(2), "AvgPool2d"), wo = win.Out(xv.Dim(3), "AvgPool2d");
        var y = Empty<T>([xv.Dim(0), xv.Dim(1), ho, wo], call.Format);
        AveragePooling.Forward(xv.ReadOnlySpan, y.Span, PoolPlanes.Of(xv), ho, wo, win);
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
        var xv = x.Value;
        // A blocked input is an edge of a blocked chain: the means come out NCHW, in PyTorch's channel order, for the
        // flatten and linear head.
        var y = Empty<T>([xv.Dim(0), xv.Dim(1), .. Enumerable.Repeat(1, xv.Rank - 2)]);
        var (n, c, lanes, spatial) = GlobalPoolSizes(xv);
        AveragePooling.GlobalForward(xv.ReadOnlySpan, y.Span, n, c, lanes, spatial);
        return Records(x) ? call.Output(y, new GlobalAvgPoolNode<T>(x)) : call.Output(y);
    }

    /// <summary>Images, channels, channels stored per pixel (1 for NCHW, B blocked) and spatial positions of <paramref name="t"/>.</summary>
    private static (int N, int C, int Lanes, int Spatial) GlobalPoolSizes<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> =>
        (t.Dim(0), t.Dim(1), Math.Max(1, t.Format.BlockSize()), (int)Shapes.Product(t.Shape[2..]));

    private sealed class MaxPoolNode<T>(Variable<T> x, int[] argmax) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private int[]? _argmax = argmax;

        public override string Name => "MaxPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = ZerosLike(Inputs[0]);
            MaxPooling.Backward(dy.ReadOnlySpan, dx.Span, _argmax!);
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
            var x = Inputs[0].Value;
            var dx = ZerosLike(x);
            AveragePooling.Backward(dy.ReadOnlySpan, dx.Span, PoolPlanes.Of(x), dy.Dim(2), dy.Dim(3), win);
            Propagate(0, dx, owned: true);
        }
    }

    private sealed class GlobalAvgPoolNode<T>(Variable<T> x) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "AdaptiveAvgPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = EmptyLike(Inputs[0]);
            var (n, c, lanes, spatial) = GlobalPoolSizes(dx);
            AveragePooling.GlobalBackward(dy.ReadOnlySpan, dx.Span, n, c, lanes, spatial);
            Propagate(0, dx, owned: true);
        }
    }
}
