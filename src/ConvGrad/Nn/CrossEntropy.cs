using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>
/// Softmax cross-entropy averaged over the batch (<c>nn.CrossEntropyLoss</c>): for logits <c>z [N, classes]</c> and
/// labels <c>t [N]</c>, <c>L = (1/N)·Σ_n (log Σ_j e^{z[n,j] − m_n} + m_n − z[n, t_n])</c> with <c>m_n = max_j z[n,j]</c>
/// (subtracting the row maximum keeps every exponent ≤ 0, so nothing overflows).
/// Gradient: <c>∂L/∂z[n,j] = (softmax(z)[n,j] − [j = t_n])/N</c>.
/// </summary>
public static class CrossEntropy
{
    /// <summary>Returns the mean loss and writes <c>∂L/∂logits</c> into <paramref name="dlogits"/> (same shape as the logits).</summary>
    /// <exception cref="ArgumentException">Shapes disagree or a label is outside [0, classes).</exception>
    public static double Loss<T>(Tensor<T> logits, ReadOnlySpan<int> labels, Tensor<T>? dlogits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2 || logits.Dim(0) != labels.Length)
        {
            throw new ArgumentException($"logits must be [N, classes] with N = {labels.Length} labels; got {Shapes.Format(logits.Shape)}", nameof(logits));
        }
        if (dlogits is not null && !dlogits.Shape.SequenceEqual(logits.Shape))
        {
            throw new ArgumentException($"dlogits must have the logits' shape {Shapes.Format(logits.Shape)}; got {Shapes.Format(dlogits.Shape)}", nameof(dlogits));
        }
        int n = logits.Dim(0), k = logits.Dim(1);
        var z = logits.ReadOnlySpan;
        Span<T> g = dlogits is null ? default : dlogits.Span;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int t = labels[i];
            if ((uint)t >= (uint)k)
            {
                throw new ArgumentException($"label {t} at index {i} is outside [0, {k})", nameof(labels));
            }
            var row = z.Slice(i * k, k);
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
            total += logSum - double.CreateChecked(row[t]);
            if (!g.IsEmpty)
            {
                for (int j = 0; j < k; j++)
                {
                    double p = Math.Exp(double.CreateChecked(row[j]) - logSum);
                    g[i * k + j] = T.CreateChecked((p - (j == t ? 1 : 0)) / n);
                }
            }
        }
        return total / n;
    }

    /// <summary>Row-wise softmax probabilities of <c>[N, classes]</c> logits (stable), as float64.</summary>
    public static double[,] Softmax<T>(Tensor<T> logits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2)
        {
            throw new ArgumentException($"logits must be [N, classes]; got {Shapes.Format(logits.Shape)}", nameof(logits));
        }
        int n = logits.Dim(0), k = logits.Dim(1);
        var z = logits.ReadOnlySpan;
        var p = new double[n, k];
        for (int i = 0; i < n; i++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                m = Math.Max(m, double.CreateChecked(z[i * k + j]));
            }
            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                sum += p[i, j] = Math.Exp(double.CreateChecked(z[i * k + j]) - m);
            }
            for (int j = 0; j < k; j++)
            {
                p[i, j] /= sum;
            }
        }
        return p;
    }
}
