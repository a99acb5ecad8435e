using System.Numerics;
using ConvGrad.Data;

namespace ConvGrad.Tests;

/// <summary>The bundled 10,000 digits, and batches of them normalised as training normalises them.</summary>
internal static class TestDigits
{
    public static string Folder { get; } = Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k");

    public static ImageSet All { get; } = IdxFolder.LoadSet(Path.Combine(Folder, "images-idx3-ubyte.gz"), Path.Combine(Folder, "labels-idx1-ubyte.gz"));

    /// <summary>Digits <c>[start, start + n)</c> as <c>[n, 1, 28, 28]</c>, <c>(p/255 − 0.1307)/0.3081</c>, with their labels.</summary>
    public static (Tensor<T> X, int[] Labels) Batch<T>(int start, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Tensor<T>.Uninitialized(n, 1, 28, 28);
        var labels = new int[n];
        var xs = x.Span;
        var mnist = Normalization.Mnist;
        for (int i = 0; i < n; i++)
        {
            labels[i] = All.Label(start + i);
            var px = All.Pixels(start + i);
            for (int p = 0; p < 784; p++)
            {
                xs[i * 784 + p] = T.CreateChecked((px[p] / 255.0 - mnist.Mean[0]) / mnist.Std[0]);
            }
        }
        return (x, labels);
    }
}
