using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>Element-wise <c>a + b</c> (same shapes). Gradients: <c>da = dy</c>, <c>db = dy</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> Add<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Add);
        CheckSameShape(a, b, "add");
        var call = Dispatch.Prepare(Computes.AnyFormat, ref a, ref b);
        var y = EmptyLike(a);
        TensorPrimitives.Add(a.Value.ReadOnlySpan, b.Value.ReadOnlySpan, y.Span);
        return OpTrace.Record(Records(a, b) ? call.Output(y, new AddNode<T>(a, b, T.One)) : call.Output(y),
            TracedOpKind.Add, (object?)null, a, b);
    }

    /// <summary>Element-wise <c>a − b</c> (same shapes). Gradients: <c>da = dy</c>, <c>db = −dy</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> Sub<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Add);
        CheckSameShape(a, b, "sub");
        var call = Dispatch.Prepare(Computes.AnyFormat, ref a, ref b);
        var y = EmptyLike(a);
        TensorPrimitives.Subtract(a.Value.ReadOnlySpan, b.Value.ReadOnlySpan, y.Span);
        return OpTrace.Record(Records(a, b) ? call.Output(y, new AddNode<T>(a, b, -T.One)) : call.Output(y),
            TracedOpKind.Sub, (object?)null, a, b);
    }

    /// <summary>Element-wise <c>a · b</c> (same shapes). Gradients: <c>da = dy · b</c>, <c>db = dy · a</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> Mul<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Mul);
        CheckSameShape(a, b, "mul");
        var call = Dispatch.Prepare(Computes.AnyFormat, ref a, ref b);
        var y = EmptyLike(a);
        TensorPrimitives.Multiply(a.Value.ReadOnlySpan, b.Value.ReadOnlySpan, y.Span);
        return OpTrace.Record(Records(a, b) ? call.Output(y, new MulNode<T>(a, b)) : call.Output(y),
            TracedOpKind.Mul, (object?)null, a, b);
    }

    /// <summary>The sum of all elements, shape <c>[1]</c>. Gradient: <c>dx = dy</c> everywhere.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    public static Variable<T> Sum<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reduce(x, T.One);

    /// <summary>The mean of all elements, shape <c>[1]</c>. Gradient: <c>dx = dy / count</c> everywhere.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    public static Variable<T> Mean<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        return Reduce(x, T.One / T.CreateChecked(Shapes.Product(x.Shape)));
    }

    private static Variable<T> Reduce<T>(Variable<T> x, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Reduce);
        ArgumentNullException.ThrowIfNull(x);
        var call = Dispatch.Prepare(Computes.Contiguous, ref x);
        var y = Empty<T>(1);
        y.Span[0] = TensorPrimitives.Sum(x.Value.ReadOnlySpan) * scale;
        return Records(x) ? call.Output(y, new ReduceNode<T>(x, scale)) : call.Output(y);
    }

    private static void CheckSameShape<T>(Variable<T> a, Variable<T> b, string op) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.Shape.SequenceEqual(b.Shape))
        {
            throw new ArgumentException($"{op} needs equal shapes; got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}", nameof(b));
        }
    }

    private sealed class AddNode<T>(Variable<T> a, Variable<T> b, T signB) : Node<T>(a, b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => signB > T.Zero ? "AddBackward" : "SubBackward";

        protected override void Backward(Tensor<T> dy)
        {
            if (NeedsGrad(0))
            {
                Propagate(0, dy, owned: false);
            }
            if (NeedsGrad(1))
            {
                if (signB > T.Zero)
                {
                    Propagate(1, dy, owned: false);
                }
                else
                {
                    var g = EmptyLike(dy);
                    TensorPrimitives.Negate(dy.ReadOnlySpan, g.Span);
                    Propagate(1, g, owned: true);
                }
            }
        }
    }

    private sealed class MulNode<T>(Variable<T> a, Variable<T> b) : Node<T>(a, b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "MulBackward";

        protected override void Backward(Tensor<T> dy)
        {
            for (int i = 0; i < 2; i++)
            {
                if (NeedsGrad(i))
                {
                    var g = EmptyLike(dy);
                    TensorPrimitives.Multiply(dy.ReadOnlySpan, Inputs[1 - i].Value.ReadOnlySpan, g.Span);
                    Propagate(i, g, owned: true);
                }
            }
        }
    }

    private sealed class ReduceNode<T>(Variable<T> x, T scale) : Node<T>(x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => scale == T.One ? "SumBackward" : "MeanBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var g = EmptyLike(Inputs[0]);
            g.Fill(dy.ReadOnlySpan[0] * scale);
            Propagate(0, g, owned: true);
        }
    }
}
