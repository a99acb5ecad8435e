using System.Numerics;
using System.Numerics.Tensors;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Fully connected layer (<c>F.linear</c>): <c>y = x·Wᵀ + b</c>, x <c>[N, in]</c>, W <c>[out, in]</c>, b <c>[out]</c>.
    /// Gradients: <c>dx = dy·W</c>, <c>dW = dyᵀ·x</c>, <c>db = Σ_n dy[n, :]</c>. In float32 every product runs on the
    /// library's SGEMM (split statically over <see cref="ConvOptions.Threads"/>; the result does not depend on the
    /// thread count); float64 uses row dot products.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input <c>[N, in]</c>.</param>
    /// <param name="w">The weight <c>[out, in]</c>.</param>
    /// <param name="b">The bias <c>[out]</c>, or null for none.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Variable<T> Linear<T>(Variable<T> x, Variable<T> w, Variable<T>? b, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Linear);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        var call = Dispatch.Prepare(Computes.Contiguous, ref x);
        if (w.Value.Rank != 2 || x.Value.Rank != 2 || x.Value.Dim(1) != w.Value.Dim(1))
        {
            throw new ArgumentException($"linear expects x [N, in] and weight [out, in]; got x {Shapes.Format(x.Shape)}, weight {Shapes.Format(w.Shape)}", nameof(x));
        }
        if (b is not null && (b.Value.Rank != 1 || b.Value.Dim(0) != w.Value.Dim(0)))
        {
            throw new ArgumentException($"linear bias must be [{w.Value.Dim(0)}]; got {Shapes.Format(b.Shape)}", nameof(b));
        }
        var o = options ?? ConvOptions.Default;
        int n = x.Value.Dim(0), outF = w.Value.Dim(0), inF = w.Value.Dim(1);
        var y = Empty<T>(n, outF);
        Gemm(false, true, n, outF, inF, x.Value, w.Value, y, o);
        if (b is not null)
        {
            var ys = y.Span;
            var bs = b.Value.ReadOnlySpan;
            for (int i = 0; i < n; i++)
            {
                var row = ys.Slice(i * outF, outF);
                TensorPrimitives.Add(row, bs, row);
            }
        }
        return OpTrace.Record(Records(x, w, b) ? call.Output(y, new LinearNode<T>(Inputs(x, w, b), o)) : call.Output(y),
            TracedOpKind.Linear, (object?)null, x, w, b);
    }

    /// <summary><c>C[m×n] = op(A)·op(B)</c> on <see cref="MatMul"/>.</summary>
    private static void Gemm<T>(bool transA, bool transB, int m, int n, int k, Tensor<T> a, Tensor<T> b, Tensor<T> c, ConvOptions o)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        MatMul.Multiply(transA, transB, m, n, k, a.ReadOnlySpan, b.ReadOnlySpan, c.Span, o.EffectiveThreads, o.MaxIsa);

    private sealed class LinearNode<T>(Variable<T>[] inputs, ConvOptions o) : Node<T>(inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "LinearBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0].Value;
            var w = Inputs[1].Value;
            int n = x.Dim(0), outF = w.Dim(0), inF = w.Dim(1);
            if (NeedsGrad(1))
            {
                var dw = Empty<T>(outF, inF);
                Gemm(true, false, outF, inF, n, dy, x, dw, o);
                Propagate(1, dw, owned: true);
            }
            if (Inputs.Count > 2 && NeedsGrad(2))
            {
                Propagate(2, ChannelSums(dy), owned: true);
            }
            if (NeedsGrad(0))
            {
                var dx = Empty<T>(n, inF);
                Gemm(false, false, n, inF, outF, dy, w, dx, o);
                Propagate(0, dx, owned: true);
            }
        }
    }
}
