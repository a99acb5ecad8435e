using System.Numerics;
using System.Runtime.CompilerServices;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Convolution of the channel-blocked variable <paramref name="x"/> (float32: <see cref="BlockedKernels.CoverType{T}"/>)
    /// into a blocked result, on the direct blocked kernels of <paramref name="plan"/>: forward reblocks the weights into
    /// the plan and runs it; the backward pass reblocks the transposed weights for dX and computes dW (bitwise the same
    /// for any thread count) and db from the blocked dY. The padded tail channels of y and dx stay exactly zero.
    /// </summary>
    internal static unsafe Variable<T> ConvBlocked<T>(Variable<T> x, Variable<T> w, Variable<T>? b, BlockedConvPlan plan, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Conv);
        var y = Empty<T>(plan.Problem.OutputShape, x.Format);
        plan.Reblock(ConvPass.Forward, Floats(w.Value), b is null ? default : Floats(b.Value));
        plan.Forward(FloatPtr(x.Value), FloatPtr(y), threads);
        var call = new OpCall<T>(x.Format, threads);
        return Records(x, w, b) ? call.Output(y, new BlockedConvNode<T>(Inputs(x, w, b), plan, threads)) : call.Output(y);
    }

    /// <summary>
    /// A first layer's convolution (one group, 1-3 input channels: <see cref="BlockedConvPlan.ReadsNchw"/>) from the plain
    /// NCHW variable <paramref name="x"/> straight into the blocked layout of <paramref name="format"/>, on the planner's
    /// first-layer kernels (<see cref="ConvKernel.FirstLayer"/>): forward and dW read x in place and y/dY blocked, so no
    /// reorder runs on either side of the layer (the NCHW convolution and a reorder of y, and in the backward pass a reorder
    /// of dY back to NCHW, did before). dW is bitwise the same for any thread count; dX (an input that requires a
    /// gradient, rare for a first layer) goes through NCHW.
    /// </summary>
    internal static unsafe Variable<T> ConvFromNchw<T>(Variable<T> x, Variable<T> w, Variable<T>? b, BlockedConvPlan plan, MemoryFormat format, ConvGeometry geometry,
        ConvOptions? options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Conv);
        int threads = (options ?? ConvOptions.Default).EffectiveThreads;
        var y = Empty<T>(plan.Problem.OutputShape, format);
        plan.ReblockFlat(Floats(w.Value), b is null ? default : Floats(b.Value));
        plan.ForwardFromNchw(FloatPtr(x.Value), FloatPtr(y), threads);
        var call = new OpCall<T>(format, threads);
        return Records(x, w, b) ? call.Output(y, new FirstLayerConvNode<T>(Inputs(x, w, b), plan, geometry, options)) : call.Output(y);
    }

    /// <summary>This thread's blocked executor of <paramref name="p"/> (the one cache, <see cref="PlanCache"/>).</summary>
    private static BlockedConvPlan PlanFor(ConvProblem p, MemoryFormat format) => PlanCache.For(p, format.BlockSize());

    /// <summary>The first element of a pinned pooled float32 tensor (the blocked kernels' element type).</summary>
    private static unsafe float* FloatPtr<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> => (float*)Unsafe.AsPointer(ref t.DataRef);

    /// <summary>A float32 tensor's elements as floats (the blocked kernels' element type).</summary>
    private static ReadOnlySpan<float> Floats<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(t.ReadOnlySpan);

    /// <summary>db[k] = Σ over images and pixels of a channel-blocked dy: the bias gradient of both blocked conv nodes.</summary>
    private static Tensor<T> BiasGradient<T>(Tensor<T> dy) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.ConvBias);
        var blocking = ChannelBlocking.Of(dy);
        var db = Empty<T>(blocking.C);
        Cpu.Blocked.BlockedChannelSums.Compute(Floats(dy), blocking.N, blocking.C, blocking.BlockSize, blocking.Spatial,
            System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(db.Span));
        return db;
    }

    private sealed unsafe class BlockedConvNode<T>(Variable<T>[] inputs, BlockedConvPlan plan, int threads) : Node<T>(inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ConvolutionBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0];
            var w = Inputs[1].Value;
            if (NeedsGrad(1))
            {
                var dw = EmptyLike(w);
                using (OpProfiler.Time(ProfiledOp.ConvWeight))
                {
                    plan.BackwardWeight(FloatPtr(x.Value), FloatPtr(dy), FloatPtr(dw), threads);
                }
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                Propagate(2, BiasGradient(dy), owned: true);
            }
            if (NeedsGrad(0))
            {
                var dx = EmptyLike(x);
                using var profiled = OpProfiler.Time(ProfiledOp.ConvData);
                plan.Reblock(ConvPass.BackwardData, Floats(w), default);
                plan.BackwardData(FloatPtr(dy), FloatPtr(dx), threads);
                Propagate(0, dx, owned: true);
            }
        }
    }

    private sealed unsafe class FirstLayerConvNode<T>(Variable<T>[] inputs, BlockedConvPlan plan, ConvGeometry geometry, ConvOptions? options) : Node<T>(inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ConvolutionBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0];
            var w = Inputs[1].Value;
            int threads = (options ?? ConvOptions.Default).EffectiveThreads;
            if (NeedsGrad(1))
            {
                var dw = EmptyLike(w);
                using (OpProfiler.Time(ProfiledOp.ConvWeight))
                {
                    plan.BackwardWeightFromNchw(FloatPtr(x.Value), FloatPtr(dy), FloatPtr(dw), threads);
                }
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                Propagate(2, BiasGradient(dy), owned: true);
            }
            if (NeedsGrad(0))
            {
                var nchw = ScopedTensors<T>.Rent(dy.Shape, MemoryFormat.Contiguous, clear: false);
                using (OpProfiler.Time(ProfiledOp.Layout))
                {
                    nchw.CopyFrom(dy, threads);
                }
                var dx = EmptyLike(x);
                using (OpProfiler.Time(ProfiledOp.ConvData))
                {
                    ConvGrad.Conv.BackwardData(nchw, w, geometry, dx, options);
                }
                ScopedTensors<T>.Recycle(nchw);
                Propagate(0, dx, owned: true);
            }
        }
    }
}
