using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Nn;

/// <summary>
/// Fully connected layer (<c>nn.Linear</c>): <c>y = x·Wᵀ + b</c>.
/// Shapes: x <c>[N, in]</c>, weight <c>[out, in]</c>, bias <c>[out]</c>, y <c>[N, out]</c>.
/// Backward: <c>dx = dy·W</c>, <c>dW = dyᵀ·x</c>, <c>db = Σ_n dy[n, :]</c>; every product runs along contiguous rows
/// (TensorPrimitives dot products and fused multiply-adds), in a fixed order.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _y, _dx;

    /// <summary>Creates the layer with Kaiming-normal weights from <paramref name="rng"/> and a zero bias.</summary>
    public Linear(int inFeatures, int outFeatures, Random rng, bool bias = true)
    {
        if (inFeatures < 1 || outFeatures < 1)
        {
            throw new ArgumentException($"feature counts must be >= 1; got in {inFeatures}, out {outFeatures}", nameof(inFeatures));
        }
        Weight = new Parameter<T>("weight", Tensor<T>.Zeros(outFeatures, inFeatures));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? new Parameter<T>("bias", Tensor<T>.Zeros(outFeatures)) : null;
    }

    /// <summary>The weight <c>[out, in]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[out]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    public override IEnumerable<Parameter<T>> Parameters() => Bias is null ? [Weight] : [Weight, Bias];

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        int outF = Weight.Value.Dim(0), inF = Weight.Value.Dim(1);
        CheckInput(x, 2, "Linear", "[N, in]");
        if (x.Dim(1) != inF)
        {
            throw new ArgumentException($"Linear expects input [N, {inF}]; got {Shapes.Format(x.Shape)}", nameof(x));
        }
        int n = x.Dim(0);
        var y = Reuse(ref _y, [n, outF]);
        var xs = x.ReadOnlySpan;
        var w = Weight.Value.ReadOnlySpan;
        var ys = y.Span;
        ReadOnlySpan<T> b = Bias is null ? default : Bias.Value.ReadOnlySpan;
        for (int i = 0; i < n; i++)
        {
            var row = xs.Slice(i * inF, inF);
            for (int o = 0; o < outF; o++)
            {
                ys[i * outF + o] = TensorPrimitives.Dot(row, w.Slice(o * inF, inF)) + (b.IsEmpty ? T.Zero : b[o]);
            }
        }
        _x = x;
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var x = Cached(_x, "Linear");
        int n = x.Dim(0), outF = Weight.Value.Dim(0), inF = Weight.Value.Dim(1);
        var xs = x.ReadOnlySpan;
        var d = dy.ReadOnlySpan;
        var dw = Weight.Grad.Span;
        dw.Clear();
        for (int o = 0; o < outF; o++)
        {
            var g = dw.Slice(o * inF, inF);
            for (int i = 0; i < n; i++)
            {
                TensorPrimitives.MultiplyAdd(xs.Slice(i * inF, inF), d[i * outF + o], g, g);
            }
        }
        if (Bias is not null)
        {
            var db = Bias.Grad.Span;
            db.Clear();
            for (int i = 0; i < n; i++)
            {
                TensorPrimitives.Add(db, d.Slice(i * outF, outF), db);
            }
        }
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, x.Shape);
        var dxs = dx.Span;
        dxs.Clear();
        var w = Weight.Value.ReadOnlySpan;
        for (int i = 0; i < n; i++)
        {
            var row = dxs.Slice(i * inF, inF);
            for (int o = 0; o < outF; o++)
            {
                TensorPrimitives.MultiplyAdd(w.Slice(o * inF, inF), d[i * outF + o], row, row);
            }
        }
        return dx;
    }
}
