using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Nn;

/// <summary>
/// Rectified linear unit (<c>nn.ReLU</c>): <c>y = max(x, 0)</c>, any shape.
/// Backward: <c>dx = dy · [y &gt; 0]</c> (the gradient at exactly 0 is taken as 0, as PyTorch does).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ReLU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y, _dx;

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Reuse(ref _y, x.Shape, x);
        TensorPrimitives.Max(x.ReadOnlySpan, T.Zero, y.Span);
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var y = Cached(_y, "ReLU").ReadOnlySpan;
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, dy.Shape, dy);
        var d = dy.ReadOnlySpan;
        var g = dx.Span;
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            for (; i <= g.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var yv = new Vector<T>(y[i..]);
                Vector.ConditionalSelect(Vector.GreaterThan(yv, Vector<T>.Zero), new Vector<T>(d[i..]), Vector<T>.Zero).CopyTo(g[i..]);
            }
        }
        for (; i < g.Length; i++)
        {
            g[i] = y[i] > T.Zero ? d[i] : T.Zero;
        }
        return dx;
    }
}

/// <summary>Flattens <c>[N, ...]</c> to <c>[N, Π ...]</c> (<c>nn.Flatten</c>); backward restores the shape.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Flatten<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[]? _shape;

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        _shape = x.Shape.ToArray();
        return x.Reshape(x.Dim(0), (int)(x.Length / x.Dim(0)));
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var shape = _shape ?? throw new InvalidOperationException("Flatten.Backward called before Forward");
        return ComputeInputGradient ? dy.Reshape(shape) : null;
    }
}

/// <summary>
/// Dropout (<c>nn.Dropout</c>): in training, each element is zeroed with probability <c>p</c> and the rest scaled by
/// <c>1/(1−p)</c>, with a mask drawn from the layer's seeded generator; in evaluation it is the identity.
/// Backward: <c>dx = dy · mask</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Dropout<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Random _rng;
    private Tensor<T>? _mask, _y, _dx;
    private bool _masked;

    /// <summary>Creates the layer with drop probability <paramref name="p"/> in [0, 1).</summary>
    public Dropout(double p, Random rng)
    {
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentException($"dropout probability must be in [0, 1); got {p}", nameof(p));
        }
        P = p;
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        _masked = Training && P > 0;
        if (!_masked)
        {
            return x;
        }
        var mask = Reuse(ref _mask, x.Shape).Span;
        T scale = T.CreateChecked(1 / (1 - P));
        for (int i = 0; i < mask.Length; i++)
        {
            mask[i] = _rng.NextDouble() < P ? T.Zero : scale;
        }
        var y = Reuse(ref _y, x.Shape, x);
        TensorPrimitives.Multiply(x.ReadOnlySpan, mask, y.Span);
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        if (!ComputeInputGradient)
        {
            return null;
        }
        if (!_masked)
        {
            return dy;
        }
        var dx = Reuse(ref _dx, dy.Shape, dy);
        TensorPrimitives.Multiply(dy.ReadOnlySpan, _mask!.ReadOnlySpan, dx.Span);
        return dx;
    }
}
