using System.Buffers;
using System.Numerics;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Max pooling of a channel-blocked <paramref name="x"/> (<see cref="BlockedPooling.MaxPool{T}"/>): the window scan,
    /// tie rule and NaN rule of <see cref="MaxPool2d{T}"/>, the result in x's format. The gradient is the NCHW one's:
    /// each dy to its recorded argmax.
    /// </summary>
    private static Variable<T> BlockedMaxPool2d<T>(Variable<T> x, PoolWindow win, OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var b = ChannelBlocking.Of(x.Value);
        int h = x.Shape[2], w = x.Shape[3];
        int ho = win.Out(h, "MaxPool2d"), wo = win.Out(w, "MaxPool2d");
        var y = Empty<T>([b.N, b.C, ho, wo], call.Format);
        var argmax = ArrayPool<int>.Shared.Rent((int)y.Length);
        BlockedPooling.MaxPool(x.Value.ReadOnlySpan, y.Span, argmax, b, h, w, ho, wo, win.Kernel, win.Stride, win.Padding);
        if (!Records(x))
        {
            ArrayPool<int>.Shared.Return(argmax);
            return call.Output(y);
        }
        return call.Output(y, new MaxPoolNode<T>(x, argmax));
    }

    /// <summary>Average pooling (count_include_pad on) of a channel-blocked <paramref name="x"/>, the result in x's format.</summary>
    private static Variable<T> BlockedAvgPool2d<T>(Variable<T> x, PoolWindow win, OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var b = ChannelBlocking.Of(x.Value);
        int h = x.Shape[2], w = x.Shape[3];
        int ho = win.Out(h, "AvgPool2d"), wo = win.Out(w, "AvgPool2d");
        var y = Empty<T>([b.N, b.C, ho, wo], call.Format);
        BlockedPooling.AvgPool(x.Value.ReadOnlySpan, y.Span, b, h, w, ho, wo, win.Kernel, win.Stride, win.Padding);
        return Records(x) ? call.Output(y, new BlockedAvgPoolNode<T>(x, win)) : call.Output(y);
    }

    /// <summary>
    /// Global average pooling of a channel-blocked <paramref name="x"/> into an NCHW <c>[N, C, 1, ...]</c> result (an
    /// edge of a blocked chain: the features come out in PyTorch's channel order for the flatten and linear head).
    /// </summary>
    private static Variable<T> BlockedGlobalAvgPool<T>(Variable<T> x, OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var b = ChannelBlocking.Of(x.Value);
        int[] shape = [b.N, b.C, .. Enumerable.Repeat(1, x.Shape.Length - 2)];
        var y = Empty<T>(shape);
        BlockedPooling.GlobalAvgPool(x.Value.ReadOnlySpan, y.Span, b);
        return Records(x) ? call.Output(y, new BlockedGlobalAvgPoolNode<T>(x)) : call.Output(y);
    }

    private sealed class BlockedAvgPoolNode<T>(Variable<T> x, PoolWindow win) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "AvgPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0];
            var dx = ZerosLike(x);
            BlockedPooling.AvgPoolBackward(dy.ReadOnlySpan, dx.Span, ChannelBlocking.Of(x.Value), x.Shape[2], x.Shape[3], dy.Dim(2), dy.Dim(3),
                win.Kernel, win.Stride, win.Padding);
            Propagate(0, dx, owned: true);
        }
    }

    private sealed class BlockedGlobalAvgPoolNode<T>(Variable<T> x) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "AdaptiveAvgPool2DBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = EmptyLike(Inputs[0]);
            BlockedPooling.GlobalAvgPoolBackward(dy.ReadOnlySpan, dx.Span, ChannelBlocking.Of(dx));
            Propagate(0, dx, owned: true);
        }
    }
}
