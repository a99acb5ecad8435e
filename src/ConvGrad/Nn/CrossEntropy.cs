using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>
/// Class probabilities from logits, for prediction. The differentiable loss is
/// <see cref="Autograd.Functional.CrossEntropy{T}"/>.
/// </summary>
public static class CrossEntropy
{
    /// <summary>Row-wise softmax probabilities of <c>[N, classes]</c> logits (stable), as float64.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="logits">Unnormalised class scores <c>[N, classes]</c>.</param>
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
