using System.Numerics;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>The same elements in a new shape of equal length (<c>torch.reshape</c>). Gradient: <c>dy</c> reshaped back.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    /// <param name="shape">The new size of each axis (same element count).</param>
    public static Variable<T> Reshape<T>(Variable<T> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Reshape);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(shape);
        var call = Dispatch.Prepare(Computes.Contiguous, ref x);
        if (Shapes.Product(shape) != x.Value.Length || shape.Any(d => d < 1))
        {
            throw new ArgumentException($"cannot reshape {Shapes.Format(x.Shape)} ({x.Value.Length} elements) to {Shapes.Format(shape)}", nameof(shape));
        }
        var y = Empty<T>(shape);
        x.Value.ReadOnlySpan.CopyTo(y.Span);
        return OpTrace.Record(Records(x) ? call.Output(y, new ReshapeNode<T>(x)) : call.Output(y), TracedOpKind.Reshape, shape.ToArray(), x);
    }

    /// <summary><c>[N, ...] → [N, Π ...]</c> (<c>torch.flatten(x, 1)</c>).</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    public static Variable<T> Flatten<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Reshape);
        ArgumentNullException.ThrowIfNull(x);
        var nchw = x;
        Dispatch.Prepare(Computes.Contiguous, ref nchw);
        return OpTrace.Record(Reshape(nchw, nchw.Value.Dim(0), (int)(nchw.Value.Length / nchw.Value.Dim(0))), TracedOpKind.Flatten, (object?)null, x);
    }

    /// <summary>
    /// Concatenation along the channel axis (<c>torch.cat(xs, dim=1)</c>): inputs <c>[N, C_i, ...]</c> with equal N and
    /// spatial sizes give <c>[N, Σ C_i, ...]</c>. Gradient: each input gets its channel slice of <c>dy</c>.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="xs">The variables to join along the channel axis; all other axes equal.</param>
    public static Variable<T> Concat<T>(params Variable<T>[] xs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Concat);
        ArgumentNullException.ThrowIfNull(xs);
        if (xs.Length == 0 || xs.Any(v => v is null))
        {
            throw new ArgumentException("concat needs at least one variable and no nulls", nameof(xs));
        }
        var inputs = xs;
        xs = (Variable<T>[])xs.Clone();
        var call = Dispatch.Prepare(Computes.Contiguous, xs);
        var first = xs[0].Value;
        if (first.Rank < 2)
        {
            throw new ArgumentException($"concat along channels needs [N, C, ...] inputs; got {Shapes.Format(first.Shape)}", nameof(xs));
        }
        int channels = 0;
        foreach (var v in xs)
        {
            var t = v.Value;
            if (t.Rank != first.Rank || t.Dim(0) != first.Dim(0) || !t.Shape[2..].SequenceEqual(first.Shape[2..]))
            {
                throw new ArgumentException($"concat along channels needs equal N and spatial sizes; got {Shapes.Format(first.Shape)} and {Shapes.Format(t.Shape)}", nameof(xs));
            }
            channels += t.Dim(1);
        }
        int n = first.Dim(0), plane = (int)(first.Length / ((long)n * first.Dim(1)));
        int[] shape = [n, channels, .. first.Shape[2..]];
        var y = Empty<T>(shape);
        var ys = y.Span;
        for (int b = 0; b < n; b++)
        {
            int c0 = 0;
            foreach (var v in xs)
            {
                int c = v.Value.Dim(1);
                v.Value.ReadOnlySpan.Slice(b * c * plane, c * plane).CopyTo(ys.Slice((b * channels + c0) * plane, c * plane));
                c0 += c;
            }
        }
        bool records = GradMode.IsEnabled && xs.Any(v => v.RequiresGrad);
        return OpTrace.Record(records ? call.Output(y, new ConcatNode<T>(xs, plane)) : call.Output(y), TracedOpKind.Concat, inputs);
    }

    private sealed class ReshapeNode<T>(Variable<T> x) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ReshapeBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = EmptyLike(Inputs[0]);
            dy.ReadOnlySpan.CopyTo(dx.Span);
            Propagate(0, dx, owned: true);
        }
    }

    private sealed class ConcatNode<T>(Variable<T>[] xs, int plane) : Node<T>(xs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "CatBackward";

        protected override void Backward(Tensor<T> dy)
        {
            int n = dy.Dim(0), channels = dy.Dim(1), c0 = 0;
            var d = dy.ReadOnlySpan;
            for (int i = 0; i < Inputs.Count; i++)
            {
                int c = Inputs[i].Value.Dim(1);
                if (NeedsGrad(i))
                {
                    var g = EmptyLike(Inputs[i]);
                    var gs = g.Span;
                    for (int b = 0; b < n; b++)
                    {
                        d.Slice((b * channels + c0) * plane, c * plane).CopyTo(gs.Slice(b * c * plane, c * plane));
                    }
                    Propagate(i, g, owned: true);
                }
                c0 += c;
            }
        }
    }
}
