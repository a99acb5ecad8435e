using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad;

public static partial class Conv
{
    /// <summary>
    /// Forward pass on channel-blocked activations: <c>y = x ⋆ w + b</c>, x and y in the layout of
    /// <see cref="BlockedTensor"/> with the same block, the weight and bias PyTorch-shaped. Where the options' tier has
    /// blocked kernels for this block (16: AVX-512, 8: AVX2 and up; fast engine) and they cover the grouping, the call
    /// runs them directly (the planner's choice, <c>ConvPlanner</c>) on an executor cached per thread and shape, and allocates nothing once the plan exists; otherwise it
    /// computes through NCHW (converting x and y inside the call). A caller that chains layers keeps its activations
    /// blocked and converts only at the network's edges.
    /// </summary>
    /// <param name="x">Input, logical shape <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[K]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="y">Output, logical shape <c>[N, K, out...]</c>, the block of x; every element (and the zero channel tail) is written.</param>
    /// <param name="options">Engine, ISA cap and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">Invalid geometry, a shape that does not match, blocks that differ, or y is x.</exception>
    public static void Forward(BlockedTensor x, Tensor<float> w, Tensor<float>? b, ConvGeometry geometry, BlockedTensor y, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(y);
        var p = ConvProblem.ForConv(geometry, x.Shape, w.Shape);
        if (b is not null)
        {
            ConvProblem.CheckShape(b.Shape, [p.K], nameof(b), "the bias");
        }
        CheckBlocked(y, p.OutputShape, x, nameof(y), nameof(x), "the convolution output");
        var o = options ?? ConvOptions.Default;
        var plan = ConvPlanner.PlanBlocked(p, ConvPass.Forward, x.BlockSize, o);
        if (plan.Kernel == ConvKernel.DirectBlocked)
        {
            var run = plan.Executor;
            run.Reblock(ConvPass.Forward, w.ReadOnlySpan, b is null ? default : b.ReadOnlySpan);
            run.Forward(x, y, o.EffectiveThreads);
            return;
        }
        using var xn = x.ToNchw(o.EffectiveThreads);
        using var yn = Forward(xn, w, b, geometry, o);
        y.CopyFrom(yn, o.EffectiveThreads);
    }

    /// <summary>
    /// Backward-data on channel-blocked activations: <c>dx = ∂L/∂x</c> from <c>dy = ∂L/∂y</c>, both blocked with the
    /// same block; as <see cref="Forward(BlockedTensor, Tensor{float}, Tensor{float}?, ConvGeometry, BlockedTensor, ConvOptions?)"/>
    /// for the kernels, the plan cache and the NCHW fallback.
    /// </summary>
    /// <param name="dy">Output gradient, logical shape <c>[N, K, out...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="dx">Input gradient, logical shape <c>[N, C, in...]</c> (its shape sets the input size); every element and the zero tail is written.</param>
    /// <param name="options">Engine, ISA cap and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">Invalid geometry, a shape that does not match, blocks that differ, or dx is dy.</exception>
    public static void BackwardData(BlockedTensor dy, Tensor<float> w, ConvGeometry geometry, BlockedTensor dx, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dx);
        var p = ConvProblem.ForConv(geometry, dx.Shape, w.Shape, nameof(dx), nameof(w));
        CheckBlocked(dy, p.OutputShape, dx, nameof(dy), nameof(dx), "the output gradient");
        var o = options ?? ConvOptions.Default;
        var plan = ConvPlanner.PlanBlocked(p, ConvPass.BackwardData, dx.BlockSize, o);
        if (plan.Kernel == ConvKernel.DirectBlocked)
        {
            var run = plan.Executor;
            run.Reblock(ConvPass.BackwardData, w.ReadOnlySpan, default);
            run.BackwardData(dy, dx, o.EffectiveThreads);
            return;
        }
        using var dyn = dy.ToNchw(o.EffectiveThreads);
        using var dxn = Tensor<float>.Uninitialized(dx.Shape.ToArray());
        BackwardData(dyn, w, geometry, dxn, o);
        dx.CopyFrom(dxn, o.EffectiveThreads);
    }

    /// <summary>
    /// Backward-weight from channel-blocked activations: <c>dw = ∂L/∂w</c> (PyTorch-shaped) from x and
    /// <c>dy = ∂L/∂y</c>, both blocked with the same block; bitwise the same for any thread count within a tier. As
    /// <see cref="Forward(BlockedTensor, Tensor{float}, Tensor{float}?, ConvGeometry, BlockedTensor, ConvOptions?)"/> for the
    /// kernels, the plan cache and the NCHW fallback.
    /// </summary>
    /// <param name="x">Input, logical shape <c>[N, C, in...]</c>.</param>
    /// <param name="dy">Output gradient, logical shape <c>[N, K, out...]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="dw">Weight gradient <c>[K, C/groups, kernel...]</c> (its shape sets the kernel size), overwritten.</param>
    /// <param name="options">Engine, ISA cap and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">Invalid geometry, a shape that does not match, or blocks that differ.</exception>
    public static void BackwardWeight(BlockedTensor x, BlockedTensor dy, ConvGeometry geometry, Tensor<float> dw, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dw);
        var p = ConvProblem.ForConv(geometry, x.Shape, dw.Shape, nameof(x), nameof(dw));
        CheckBlocked(dy, p.OutputShape, x, nameof(dy), nameof(x), "the output gradient");
        var o = options ?? ConvOptions.Default;
        var plan = ConvPlanner.PlanBlocked(p, ConvPass.BackwardWeight, x.BlockSize, o);
        if (plan.Kernel == ConvKernel.DirectBlocked)
        {
            plan.Executor.BackwardWeight(x, dy, dw.Span, o.EffectiveThreads);
            return;
        }
        using var xn = x.ToNchw(o.EffectiveThreads);
        using var dyn = dy.ToNchw(o.EffectiveThreads);
        BackwardWeight(xn, dyn, geometry, dw, o);
    }

    /// <summary>
    /// Bias gradient from a channel-blocked <c>dy</c>: <c>db[k] = Σ_{n,o} dy[n, k, o]</c>, summed in a fixed order (each
    /// image's positions lane-wise, then the images in order).
    /// </summary>
    /// <param name="dy">Output gradient, logical shape <c>[N, K, out...]</c>.</param>
    /// <param name="db">The bias gradient <c>[K]</c>, overwritten.</param>
    /// <exception cref="ArgumentException">db is not <c>[K]</c>.</exception>
    public static void BackwardBias(BlockedTensor dy, Tensor<float> db)
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(db);
        int k = dy.Shape[1];
        ConvProblem.CheckShape(db.Shape, [k], nameof(db), "the bias gradient");
        BlockedChannelSums.Compute(dy.Span, dy.Shape[0], k, dy.BlockSize, dy.Spatial, db.Span);
    }

    private static void CheckBlocked(BlockedTensor t, int[] shape, BlockedTensor other, string name, string otherName, string what)
    {
        if (!t.Shape.SequenceEqual(shape))
        {
            throw new ArgumentException($"{name} must be {what} {Shapes.Format(shape)}; got {Shapes.Format(t.Shape)}", name);
        }
        if (t.BlockSize != other.BlockSize)
        {
            throw new ArgumentException($"{name} has channel block {t.BlockSize} but {otherName} has {other.BlockSize}; both must use one block", name);
        }
        if (ReferenceEquals(t, other))
        {
            throw new ArgumentException($"{name} is the same tensor as {otherName}; the passes do not compute in place", name);
        }
    }
}
