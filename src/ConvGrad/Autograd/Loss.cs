using System.Numerics;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Row-wise log-softmax of <c>[N, classes]</c> (<c>F.log_softmax(z, dim=1)</c>):
    /// <c>y[n,j] = z[n,j] − m_n − log Σ_k e^{z[n,k] − m_n}</c> with <c>m_n = max_k z[n,k]</c> (no overflow), summed in float64.
    /// Gradient: <c>dz[n,j] = dy[n,j] − e^{y[n,j]}·Σ_k dy[n,k]</c>.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="z">The scores <c>[N, classes]</c>.</param>
    public static Variable<T> LogSoftmax<T>(Variable<T> z) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Loss);
        CheckRank(z, 2, "log_softmax", "[N, classes]");
        var call = Dispatch.Prepare(Computes.Contiguous, ref z);
        int n = z.Value.Dim(0), k = z.Value.Dim(1);
        var y = EmptyLike(z);
        var zs = z.Value.ReadOnlySpan;
        var ys = y.Span;
        for (int i = 0; i < n; i++)
        {
            var row = zs.Slice(i * k, k);
            double m = double.NegativeInfinity;
            foreach (var v in row)
            {
                m = Math.Max(m, double.CreateChecked(v));
            }
            double sum = 0;
            foreach (var v in row)
            {
                sum += Math.Exp(double.CreateChecked(v) - m);
            }
            double logSum = Math.Log(sum) + m;
            for (int j = 0; j < k; j++)
            {
                ys[i * k + j] = T.CreateChecked(double.CreateChecked(row[j]) - logSum);
            }
        }
        return Records(z) ? call.Output(y, new LogSoftmaxNode<T>(z, y)) : call.Output(y);
    }

    /// <summary>
    /// Negative log-likelihood averaged over the batch (<c>F.nll_loss</c>): <c>L = −(1/N)·Σ_n logp[n, t_n]</c>, shape
    /// <c>[1]</c>. Gradient: <c>−dy/N</c> at each <c>(n, t_n)</c>, 0 elsewhere.
    /// </summary>
    /// <exception cref="ArgumentException">The label count differs from N or a label is outside [0, classes).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="logp">Log-probabilities <c>[N, classes]</c>.</param>
    /// <param name="labels">The class of each of the N samples.</param>
    public static Variable<T> NllLoss<T>(Variable<T> logp, ReadOnlySpan<int> labels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Loss);
        CheckRank(logp, 2, "nll_loss", "[N, classes]");
        var call = Dispatch.Prepare(Computes.Contiguous, ref logp);
        int n = logp.Value.Dim(0), k = logp.Value.Dim(1);
        if (labels.Length != n)
        {
            throw new ArgumentException($"nll_loss needs one label per row: {n} rows, {labels.Length} labels", nameof(labels));
        }
        var ls = logp.Value.ReadOnlySpan;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int t = labels[i];
            if ((uint)t >= (uint)k)
            {
                throw new ArgumentException($"label {t} at index {i} is outside [0, {k})", nameof(labels));
            }
            total -= double.CreateChecked(ls[i * k + t]);
        }
        var y = Empty<T>(1);
        y.Span[0] = T.CreateChecked(total / n);
        return Records(logp) ? call.Output(y, new NllNode<T>(logp, labels.ToArray())) : call.Output(y);
    }

    /// <summary>Softmax cross-entropy averaged over the batch (<c>F.cross_entropy</c>): <c>NllLoss(LogSoftmax(z), labels)</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="logits">Unnormalised class scores <c>[N, classes]</c>.</param>
    /// <param name="labels">The class of each of the N samples.</param>
    public static Variable<T> CrossEntropy<T>(Variable<T> logits, ReadOnlySpan<int> labels) where T : unmanaged, IFloatingPointIeee754<T> =>
        NllLoss(LogSoftmax(logits), labels);

    private sealed class LogSoftmaxNode<T>(Variable<T> z, Tensor<T> y) : Node<T>(z) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _y = y;

        public override string Name => "LogSoftmaxBackward";

        protected override void Backward(Tensor<T> dy)
        {
            int n = dy.Dim(0), k = dy.Dim(1);
            var ys = _y!.ReadOnlySpan;
            var d = dy.ReadOnlySpan;
            var dz = EmptyLike(dy);
            var g = dz.Span;
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                for (int j = 0; j < k; j++)
                {
                    s += double.CreateChecked(d[i * k + j]);
                }
                for (int j = 0; j < k; j++)
                {
                    g[i * k + j] = T.CreateChecked(double.CreateChecked(d[i * k + j]) - Math.Exp(double.CreateChecked(ys[i * k + j])) * s);
                }
            }
            Propagate(0, dz, owned: true);
        }

        protected override void Release() => _y = null;
    }

    private sealed class NllNode<T>(Variable<T> logp, int[] labels) : Node<T>(logp) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "NllLossBackward";

        protected override void Backward(Tensor<T> dy)
        {
            int n = labels.Length, k = Inputs[0].Value.Dim(1);
            var g = ZerosLike(Inputs[0]);
            T v = -dy.ReadOnlySpan[0] / T.CreateChecked(n);
            for (int i = 0; i < n; i++)
            {
                g.Span[i * k + labels[i]] = v;
            }
            Propagate(0, g, owned: true);
        }
    }
}
