using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Batch normalisation per channel of <c>[N, C, ...]</c> (<c>F.batch_norm</c>).
    /// Training: <c>x̂ = (x − μ_B)/√(σ²_B + ε)</c> with the batch mean and biased variance over the M = N·positions values
    /// of a channel, <c>y = γ·x̂ + β</c>; the running statistics (when given) move by <c>r ← (1 − m)·r + m·stat</c> with the
    /// unbiased variance <c>σ²_B·M/(M − 1)</c>. Evaluation: the running statistics replace the batch ones.
    /// Gradients: <c>dβ = Σ dy</c>, <c>dγ = Σ dy·x̂</c>; training <c>dx = γ/(M·√(σ²_B + ε))·(M·dy − dβ − x̂·dγ)</c>,
    /// evaluation <c>dx = γ·dy/√(r_var + ε)</c>.
    /// </summary>
    /// <param name="x">Input <c>[N, C, ...]</c>.</param>
    /// <param name="weight">γ <c>[C]</c>.</param>
    /// <param name="bias">β <c>[C]</c>.</param>
    /// <param name="runningMean">Running mean <c>[C]</c>: updated in training, used in evaluation.</param>
    /// <param name="runningVar">Running (unbiased) variance <c>[C]</c>.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">The running-statistics update rate m.</param>
    /// <param name="eps">ε added to the variance.</param>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Variable<T> BatchNorm<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T>? runningMean, Tensor<T>? runningVar,
        bool training, double momentum = 0.1, double eps = 1e-5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.BatchNorm);
        return OpTrace.Record(BatchNormOf(x, weight, bias, runningMean, runningVar, training, momentum, eps), TracedOpKind.BatchNorm,
            new TracedBatchNorm<T>(training ? null : runningMean, training ? null : runningVar, training, eps), x, weight, bias);
    }

    private static Variable<T> BatchNormOf<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T>? runningMean, Tensor<T>? runningVar,
        bool training, double momentum, double eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        if (x.Value.Rank < 2 || weight.Value.Rank != 1 || weight.Value.Dim(0) != x.Value.Dim(1) || !bias.Shape.SequenceEqual(weight.Shape))
        {
            throw new ArgumentException($"batch norm expects x [N, C, ...] with weight and bias [C]; got x {Layout(x)}, weight {Shapes.Format(weight.Shape)}, bias {Shapes.Format(bias.Shape)}", nameof(x));
        }
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        if (call.Format.IsBlocked())
        {
            return BlockedBatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, call);
        }
        var xv = x.Value;
        int n = xv.Dim(0), c = xv.Dim(1), plane = (int)(xv.Length / ((long)n * c));
        long m = (long)n * plane;
        if (training && m < 2)
        {
            throw new ArgumentException($"batch norm in training mode needs more than one value per channel; got input {Shapes.Format(xv.Shape)}", nameof(x));
        }
        if (!training && (runningMean is null || runningVar is null))
        {
            throw new ArgumentException("batch norm in evaluation mode needs the running statistics", nameof(runningMean));
        }
        var xhat = EmptyLike(xv);
        var y = EmptyLike(xv);
        var xs = xv.ReadOnlySpan;
        var hs = xhat.Span;
        var ys = y.Span;
        var g = weight.Value.ReadOnlySpan;
        var b = bias.Value.ReadOnlySpan;
        var invStd = new T[c];
        T mt = T.CreateChecked(m), epsT = T.CreateChecked(eps), mom = T.CreateChecked(momentum);
        for (int ch = 0; ch < c; ch++)
        {
            T mean, var;
            if (training)
            {
                // Two passes (mean, then squared deviations, kept in x̂): stable where E[x²] − E[x]² is not.
                T sum = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    sum += TensorPrimitives.Sum(xs.Slice((i * c + ch) * plane, plane));
                }
                mean = sum / mt;
                T sq = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    var h = hs.Slice(o, plane);
                    TensorPrimitives.Subtract(xs.Slice(o, plane), mean, h);
                    sq += TensorPrimitives.SumOfSquares<T>(h);
                }
                var = sq / mt;
                if (runningMean is not null && runningVar is not null)
                {
                    var rm = runningMean.Span;
                    var rv = runningVar.Span;
                    rm[ch] = (T.One - mom) * rm[ch] + mom * mean;
                    rv[ch] = (T.One - mom) * rv[ch] + mom * var * mt / (mt - T.One);
                }
            }
            else
            {
                mean = runningMean!.ReadOnlySpan[ch];
                var = runningVar!.ReadOnlySpan[ch];
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    TensorPrimitives.Subtract(xs.Slice(o, plane), mean, hs.Slice(o, plane));
                }
            }
            T inv = T.One / T.Sqrt(var + epsT);
            invStd[ch] = inv;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                var h = hs.Slice(o, plane);
                TensorPrimitives.Multiply(h, inv, h);
                var ySlice = ys.Slice(o, plane);
                TensorPrimitives.Multiply(h, g[ch], ySlice);
                TensorPrimitives.Add(ySlice, b[ch], ySlice);
            }
        }
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad);
        if (!records)
        {
            ScopedTensors<T>.Recycle(xhat);
            return call.Output(y);
        }
        return call.Output(y, new BatchNormNode<T>(x, weight, bias, xhat, invStd, training));
    }

    private sealed class BatchNormNode<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T> xhat, T[] invStd, bool batchStats)
        : Node<T>(x, weight, bias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _xhat = xhat;

        public override string Name => "NativeBatchNormBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var hs = _xhat!.ReadOnlySpan;
            int n = dy.Dim(0), c = dy.Dim(1), plane = (int)(dy.Length / ((long)n * c));
            T mt = T.CreateChecked((long)n * plane);
            var d = dy.ReadOnlySpan;
            var g = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<T>(c);
            var dbeta = Empty<T>(c);
            var dx = NeedsGrad(0) ? EmptyLike(dy) : null;
            for (int ch = 0; ch < c; ch++)
            {
                T sumDy = T.Zero, sumDyX = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    var ds = d.Slice(o, plane);
                    sumDy += TensorPrimitives.Sum(ds);
                    sumDyX += TensorPrimitives.Dot(ds, hs.Slice(o, plane));
                }
                dbeta.Span[ch] = sumDy;
                dgamma.Span[ch] = sumDyX;
                if (dx is null)
                {
                    continue;
                }
                T scale = g[ch] * invStd[ch];
                var dxs = dx.Span;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * plane;
                    var outSlice = dxs.Slice(o, plane);
                    if (batchStats)
                    {
                        // dx = scale·dy − scale·Σdy/M − (scale·Σdy·x̂/M)·x̂
                        TensorPrimitives.Multiply(d.Slice(o, plane), scale, outSlice);
                        TensorPrimitives.Add(outSlice, -scale * sumDy / mt, outSlice);
                        TensorPrimitives.MultiplyAdd(hs.Slice(o, plane), -scale * sumDyX / mt, outSlice, outSlice);
                    }
                    else
                    {
                        TensorPrimitives.Multiply(d.Slice(o, plane), scale, outSlice);
                    }
                }
            }
            if (NeedsGrad(1))
            {
                Propagate(1, dgamma, owned: true);
            }
            if (NeedsGrad(2))
            {
                Propagate(2, dbeta, owned: true);
            }
            if (dx is not null)
            {
                Propagate(0, dx, owned: true);
            }
        }

        protected override void Release()
        {
            ScopedTensors<T>.Recycle(_xhat!);
            _xhat = null;
        }
    }
}
