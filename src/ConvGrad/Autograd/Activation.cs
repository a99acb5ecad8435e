using System.Numerics;
using System.Numerics.Tensors;
using ConvGrad.Distributed;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Rectified linear unit (<c>F.relu</c>): <c>y = max(x, 0)</c>, any shape. Gradient: <c>dx = dy · [y &gt; 0]</c>
    /// (0 at exactly 0, as PyTorch).
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    public static Variable<T> Relu<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Relu);
        ArgumentNullException.ThrowIfNull(x);
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        var y = EmptyLike(x);
        TensorPrimitives.Max(x.Value.ReadOnlySpan, T.Zero, y.Span);
        return OpTrace.Record(Records(x) ? call.Output(y, new ReluNode<T>(x, y)) : call.Output(y), TracedOpKind.Relu, (object?)null, x);
    }

    /// <summary>
    /// Dropout (<c>F.dropout</c>): when <paramref name="training"/>, each element is zeroed with probability <paramref name="p"/>
    /// and the rest scaled by <c>1/(1−p)</c>, the mask drawn from <paramref name="rng"/>; otherwise the identity (the same
    /// variable). Gradient: <c>dx = dy · mask</c>.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    /// <param name="p">The probability of zeroing an element (PyTorch's <c>p</c>).</param>
    /// <param name="training">Whether to drop; when false the input passes through unchanged.</param>
    /// <param name="rng">The random source of the mask.</param>
    public static Variable<T> Dropout<T>(Variable<T> x, double p, bool training, Random rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Dropout);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentException($"dropout probability must be in [0, 1); got {p}", nameof(p));
        }
        if (!training || p == 0)
        {
            return OpTrace.Record(x, TracedOpKind.Dropout, p, x);
        }
        // Any format: one draw per stored element (a blocked tail draws too, and stays zero).
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        var mask = EmptyLike(x);
        var m = mask.Span;
        T scale = T.CreateChecked(1 / (1 - p));
        for (int i = 0; i < m.Length; i++)
        {
            m[i] = rng.NextDouble() < p ? T.Zero : scale;
        }
        return OpTrace.Record(Masked(x, mask, call), TracedOpKind.Dropout, p, x);
    }

    /// <summary>
    /// Dropout with a mask keyed by sample: row <c>i</c> of <paramref name="x"/> (the batch's <c>i</c>-th sample) draws its
    /// mask from <c>new SampleRandom(seed, epoch, sampleKeys[i])</c>, so a sample gets the same mask in any batch, on any
    /// rank of a data-parallel job and after a resume. Otherwise as <see cref="Dropout{T}(Variable{T}, double, bool, Random)"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="p"/> is outside [0, 1), or the keys do not match the rows.</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="x">The input variable.</param>
    /// <param name="p">The probability of zeroing an element (PyTorch's <c>p</c>).</param>
    /// <param name="training">Whether to drop; when false the input passes through unchanged.</param>
    /// <param name="seed">The run seed.</param>
    /// <param name="epoch">The epoch (0-based).</param>
    /// <param name="sampleKeys">The global index of each sample of the batch, so that each sample draws the same numbers whatever the rank or batch.</param>
    public static Variable<T> Dropout<T>(Variable<T> x, double p, bool training, ulong seed, long epoch, ReadOnlySpan<int> sampleKeys)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Dropout);
        ArgumentNullException.ThrowIfNull(x);
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentException($"dropout probability must be in [0, 1); got {p}", nameof(p));
        }
        if (!training || p == 0)
        {
            return OpTrace.Record(x, TracedOpKind.Dropout, p, x);
        }
        int rows = x.Value.Dim(0);
        if (sampleKeys.Length != rows)
        {
            throw new ArgumentException($"dropout needs one sample key per row; got {sampleKeys.Length} keys for {rows} rows", nameof(sampleKeys));
        }
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        var mask = EmptyLike(x);
        var m = mask.Span;
        int per = m.Length / Math.Max(1, rows);
        T scale = T.CreateChecked(1 / (1 - p));
        for (int r = 0; r < rows; r++)
        {
            var random = new SampleRandom(seed, epoch, sampleKeys[r]);
            var row = m.Slice(r * per, per);
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = random.NextDouble() < p ? T.Zero : scale;
            }
        }
        return OpTrace.Record(Masked(x, mask, call), TracedOpKind.Dropout, p, x);
    }

    private static Variable<T> Masked<T>(Variable<T> x, Tensor<T> mask, OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = EmptyLike(x);
        TensorPrimitives.Multiply(x.Value.ReadOnlySpan, mask.ReadOnlySpan, y.Span);
        if (!Records(x))
        {
            ScopedTensors<T>.Recycle(mask);
            return call.Output(y);
        }
        return call.Output(y, new MaskNode<T>(x, mask));
    }

    private sealed class ReluNode<T>(Variable<T> x, Tensor<T> y) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _y = y;

        public override string Name => "ReluBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var ys = _y!.ReadOnlySpan;
            var d = dy.ReadOnlySpan;
            var dx = EmptyLike(dy);
            var g = dx.Span;
            int i = 0;
            if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            {
                for (; i <= g.Length - Vector<T>.Count; i += Vector<T>.Count)
                {
                    var yv = new Vector<T>(ys[i..]);
                    Vector.ConditionalSelect(Vector.GreaterThan(yv, Vector<T>.Zero), new Vector<T>(d[i..]), Vector<T>.Zero).CopyTo(g[i..]);
                }
            }
            for (; i < g.Length; i++)
            {
                g[i] = ys[i] > T.Zero ? d[i] : T.Zero;
            }
            Propagate(0, dx, owned: true);
        }

        protected override void Release() => _y = null;
    }

    private sealed class MaskNode<T>(Variable<T> x, Tensor<T> mask) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _mask = mask;

        public override string Name => "DropoutBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var dx = EmptyLike(dy);
            TensorPrimitives.Multiply(dy.ReadOnlySpan, _mask!.ReadOnlySpan, dx.Span);
            Propagate(0, dx, owned: true);
        }

        protected override void Release()
        {
            ScopedTensors<T>.Recycle(_mask!);
            _mask = null;
        }
    }
}
