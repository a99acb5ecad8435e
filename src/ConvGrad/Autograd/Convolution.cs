using System.Numerics;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Convolution (<c>F.conv1d/2d/3d</c>): <c>y = x ⋆ w + b</c>, x <c>[N, C, in...]</c>, w <c>[K, C/groups, k...]</c>,
    /// b <c>[K]</c>. Forward and both gradients run on the engine: <see cref="Conv.Forward{T}(Tensor{T}, Tensor{T}, Tensor{T}?, ConvGeometry, Tensor{T}, ConvOptions?)"/>,
    /// <c>dx</c> = <see cref="Conv.BackwardData{T}(Tensor{T}, Tensor{T}, ConvGeometry, Tensor{T}, ConvOptions?)"/>,
    /// <c>dw</c> = <see cref="Conv.BackwardWeight{T}(Tensor{T}, Tensor{T}, ConvGeometry, Tensor{T}, ConvOptions?)"/>,
    /// <c>db[k] = Σ_{n,o} dy[n, k, o]</c>.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">The weight (layout in the summary).</param>
    /// <param name="b">The bias, or null for none.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Variable<T> Conv<T>(Variable<T> x, Variable<T> w, Variable<T>? b, ConvGeometry geometry, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Conv);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForConv(geometry, x.Shape, w.Shape);
        // Blocked in, blocked out where the blocked kernels cover this problem for T and these options; else NCHW.
        bool blocked = BlockedKernels.CoverConv<T>(p, x.Format, options);
        var call = Dispatch.Prepare(blocked ? Computes.AnyFormat : Computes.Contiguous, ref x);
        if (blocked)
        {
            if (b is not null)
            {
                ConvProblem.CheckShape(b.Shape, [p.K], "b", "the bias");
            }
            return OpTrace.Record(ConvBlocked(x, w, b, PlanFor(p, call.Format), (options ?? ConvOptions.Default).EffectiveThreads),
                TracedOpKind.Conv, geometry, x, w, b);
        }
        var y = Empty<T>(p.OutputShape);
        ConvGrad.Conv.Forward(x.Value, w.Value, b?.Value, geometry, y, options);
        return OpTrace.Record(Records(x, w, b) ? call.Output(y, new ConvNode<T>(Inputs(x, w, b), geometry, options)) : call.Output(y),
            TracedOpKind.Conv, geometry, x, w, b);
    }

    /// <summary>
    /// Transposed convolution (<c>F.conv_transpose1d/2d/3d</c>): x <c>[N, C_in, in...]</c>, w <c>[C_in, C_out/groups, k...]</c>,
    /// b <c>[C_out]</c>. Forward and gradients run on the engine through <see cref="ConvGrad.ConvTranspose"/>'s write-into
    /// passes, into buffers of the current <see cref="TensorScope"/>.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">The weight (layout in the summary).</param>
    /// <param name="b">The bias, or null for none.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Variable<T> ConvTranspose<T>(Variable<T> x, Variable<T> w, Variable<T>? b, ConvGeometry geometry, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.ConvTranspose);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var call = Dispatch.Prepare(Computes.Contiguous, ref x);
        var p = ConvProblem.ForTranspose(geometry, x.Shape, w.Shape);
        var y = Empty<T>(p.TransposeOutputShape);
        ConvGrad.ConvTranspose.Forward(x.Value, w.Value, b?.Value, geometry, y, options);
        return OpTrace.Record(Records(x, w, b) ? call.Output(y, new ConvTransposeNode<T>(Inputs(x, w, b), geometry, options)) : call.Output(y),
            TracedOpKind.ConvTranspose, geometry, x, w, b);
    }

    private sealed class ConvNode<T>(Variable<T>[] inputs, ConvGeometry geometry, ConvOptions? options) : Node<T>(inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ConvolutionBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0].Value;
            var w = Inputs[1].Value;
            if (NeedsGrad(1))
            {
                var dw = EmptyLike(w);
                using (OpProfiler.Time(ProfiledOp.ConvWeight))
                {
                    ConvGrad.Conv.BackwardWeight(x, dy, geometry, dw, options);
                }
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                using var profiled = OpProfiler.Time(ProfiledOp.ConvBias);
                Propagate(2, ChannelSums(dy, options), owned: true);
            }
            if (NeedsGrad(0))
            {
                var dx = EmptyLike(x);
                using var profiled = OpProfiler.Time(ProfiledOp.ConvData);
                ConvGrad.Conv.BackwardData(dy, w, geometry, dx, options);
                Propagate(0, dx, owned: true);
            }
        }
    }

    private sealed class ConvTransposeNode<T>(Variable<T>[] inputs, ConvGeometry geometry, ConvOptions? options) : Node<T>(inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ConvolutionTransposeBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0].Value;
            var w = Inputs[1].Value;
            if (NeedsGrad(1))
            {
                var dw = EmptyLike(w);
                ConvGrad.ConvTranspose.BackwardWeight(x, dy, geometry, dw, options);
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                Propagate(2, ChannelSums(dy, options), owned: true);
            }
            if (NeedsGrad(0))
            {
                var dx = EmptyLike(x);
                ConvGrad.ConvTranspose.BackwardData(dy, w, geometry, dx, options);
                Propagate(0, dx, owned: true);
            }
        }
    }
}
