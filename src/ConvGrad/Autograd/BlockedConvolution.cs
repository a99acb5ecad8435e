using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Convolution of the channel-blocked float variable <paramref name="x"/> into a blocked result, on the direct blocked
    /// kernels of <paramref name="plan"/>: forward reblocks the weights into the plan and runs it; the backward pass
    /// reblocks the transposed weights for dX and computes dW (bitwise the same for any thread count) and db from the
    /// blocked dY. The padded tail channels of y and dx stay exactly zero.
    /// </summary>
    internal static unsafe Variable<float> ConvBlocked(Variable<float> x, Variable<float> w, Variable<float>? b, BlockedConvPlan plan, int threads)
    {
        var blocking = x.Blocking!;
        var p = plan.Problem;
        var yBlocking = blocking.With(p.OutputShape);
        var y = Empty<float>(yBlocking.StorageShape);
        plan.Reblock(ConvPass.Forward, w.Value.ReadOnlySpan, b is null ? default : b.Value.ReadOnlySpan);
        plan.Forward(Ptr(x.Value), Ptr(y), threads);
        return Records(x, w, b)
            ? new Variable<float>(y, new BlockedConvNode(Inputs(x, w, b), plan, threads)) { Blocking = yBlocking }
            : new Variable<float>(y) { Blocking = yBlocking };
    }

    /// <summary>
    /// <see cref="Conv{T}"/> of a channel-blocked <paramref name="x"/>: on the blocked kernels when they cover the problem
    /// with these options (the planner's choice; executors cached per thread), else through NCHW and back; the result is blocked either way.
    /// </summary>
    private static Variable<T> ConvOnBlocked<T>(Variable<T> x, Variable<T> w, Variable<T>? b, ConvGeometry geometry, ConvOptions? options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocking = x.Blocking!;
        var p = ConvProblem.ForConv(geometry, blocking.LogicalShape, w.Shape);
        if (b is not null)
        {
            ConvProblem.CheckShape(b.Shape, [p.K], "b", "the bias");
        }
        var plan = ConvPlanner.PlanBlocked(p, ConvPass.Forward, blocking.BlockSize, options);
        if (plan.Kernel != ConvKernel.DirectBlocked)
        {
            return ToBlocked(Conv(ToNchw(x), w, b, geometry, options), blocking.BlockSize, blocking.Threads);
        }
        return (Variable<T>)(object)ConvBlocked((Variable<float>)(object)x, (Variable<float>)(object)w, (Variable<float>?)(object?)b, plan.Executor, plan.Threads);
    }

    /// <summary>The first element of a pinned pooled tensor.</summary>
    private static unsafe float* Ptr(Tensor<float> t) => (float*)Unsafe.AsPointer(ref t.DataRef);

    /// <summary>
    /// <c>s[c] = Σ_n Σ_positions t[n, c, ...]</c> of the blocked storage <paramref name="t"/> (the bias gradient), in a
    /// fixed order: each image's pixels summed lane-wise, the images added in order.
    /// </summary>
    internal static Tensor<float> BlockedChannelSums(Tensor<float> t, ActivationBlocking blocking)
    {
        var s = Empty<float>(blocking.C);
        Cpu.Blocked.BlockedChannelSums.Compute(t.ReadOnlySpan, blocking.N, blocking.C, blocking.BlockSize, blocking.Spatial, s.Span);
        return s;
    }

    private sealed unsafe class BlockedConvNode(Variable<float>[] inputs, BlockedConvPlan plan, int threads) : Node<float>(inputs)
    {
        public override string Name => "ConvolutionBackward";

        protected override void Backward(Tensor<float> dy)
        {
            var x = Inputs[0];
            var w = Inputs[1].Value;
            if (NeedsGrad(1))
            {
                var dw = Empty<float>(w.Shape);
                plan.BackwardWeight(Ptr(x.Value), Ptr(dy), Ptr(dw), threads);
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                Propagate(2, BlockedChannelSums(dy, x.Blocking!.With(plan.Problem.OutputShape)), owned: true);
            }
            if (NeedsGrad(0))
            {
                var dx = Empty<float>(x.Shape);
                plan.Reblock(ConvPass.BackwardData, w.ReadOnlySpan, default);
                plan.BackwardData(Ptr(dy), Ptr(dx), threads);
                Propagate(0, dx, owned: true);
            }
        }
    }
}
