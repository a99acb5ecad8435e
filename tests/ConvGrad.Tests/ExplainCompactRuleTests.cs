using System.Globalization;
using ConvGrad.Explain;

namespace ConvGrad.Tests;

/// <summary>
/// The matrices that <c>convgrad explain</c> draws for the compact rules are right: for random 2-D geometries,
/// dK = I_padded ⋆ dO′ (read at every d-th position) and dI = dO″ ⋆ rot180(K) (dilation d), computed from the drawn
/// cells alone, equal the engine's dW and dX exactly on integers.
/// </summary>
public class ExplainCompactRuleTests
{
    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (int seed = 1; seed <= 40; seed++)
        {
            data.Add(seed);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void DrawnMatrices_ComputeTheGradients(int seed)
    {
        var rng = new Random(seed);
        int[] input, kernel, stride, dil, before, after;
        do
        {
            input = [rng.Next(1, 7), rng.Next(1, 7)];
            kernel = [rng.Next(1, 4), rng.Next(1, 4)];
            stride = [rng.Next(1, 4), rng.Next(1, 4)];
            dil = [rng.Next(1, 3), rng.Next(1, 3)];
            before = [rng.Next(0, 3), rng.Next(0, 3)];
            after = [rng.Next(0, 3), rng.Next(0, 3)];
        }
        while (!Enumerable.Range(0, 2).All(a => dil[a] * (kernel[a] - 1) + 1 <= input[a] + before[a] + after[a]));
        var g = new ConvGeometry(stride, before, after, dil);
        var d = Derivation.Derive(g, [1, 1, .. input], [1, 1, .. kernel]);
        var doc = ExplainDocumentBuilder.Build(d, zeroBased: false, ExplainSections.All, []);

        var x = Integers(rng, d.InputShape);
        var w = Integers(rng, d.WeightShape);
        var dy = Integers(rng, d.OutputShape);
        int[] outSize = d.OutputShape[2..];
        double Dy(Sym s) => dy[0, 0, Index(s, 0), Index(s, 1)];
        double W(Sym s) => w[0, 0, Index(s, 0), Index(s, 1)];

        // dI(i,j) = Σ_{u,v} dO″(i + d·u, j + d·v) · rot180(K)(u, v)   (0-based positions in the drawn matrices)
        var dPadded = Cells(doc, "dO″");
        var rot = Cells(doc, "rot180(K)");
        var dx = Conv.BackwardData(Tensor(dy, d.OutputShape), Tensor(w, d.WeightShape), g, d.InputShape);
        for (int i = 0; i < input[0]; i++)
        for (int j = 0; j < input[1]; j++)
        {
            double sum = 0;
            for (int u = 0; u < kernel[0]; u++)
            for (int v = 0; v < kernel[1]; v++)
            {
                var cell = dPadded[i + dil[0] * u][j + dil[1] * v];
                sum += cell is null ? 0 : Dy(cell) * W(rot[u][v]!);
            }
            Assert.Equal(dx[0, 0, i, j], (float)sum);
        }

        // dK(u,v) = Σ_{a,b} I_padded(d·u + a, d·v + b) · dO′(a, b), where I_padded has the forward padding before.
        if (doc.Blocks.OfType<MatrixBlock>().Any(m => m.Name == "dO′"))
        {
            var dDilated = Cells(doc, "dO′");
            Assert.Equal((outSize[0] - 1) * stride[0] + 1, dDilated.Count);
            var dw = Conv.BackwardWeight(Tensor(x, d.InputShape), Tensor(dy, d.OutputShape), g, d.WeightShape);
            for (int u = 0; u < kernel[0]; u++)
            for (int v = 0; v < kernel[1]; v++)
            {
                double sum = 0;
                for (int a = 0; a < dDilated.Count; a++)
                for (int b = 0; b < dDilated[a].Count; b++)
                {
                    int i = dil[0] * u + a - before[0], j = dil[1] * v + b - before[1];
                    if (dDilated[a][b] is { } cell && i >= 0 && i < input[0] && j >= 0 && j < input[1])
                    {
                        sum += x[0, 0, i, j] * Dy(cell);
                    }
                }
                Assert.Equal(dw[0, 0, u, v], (float)sum);
            }
        }
    }

    private static IReadOnlyList<IReadOnlyList<Sym?>> Cells(Document doc, string name) =>
        Assert.Single(Assert.Single(doc.Blocks.OfType<MatrixBlock>(), m => m.Name == name).Slices).Rows;

    private static int Index(Sym s, int axis) => int.Parse(s.Indices[axis], CultureInfo.InvariantCulture) - 1;

    private static double[,,,] Integers(Random rng, int[] shape)
    {
        var a = new double[shape[0], shape[1], shape[2], shape[3]];
        for (int i = 0; i < shape[2]; i++)
        for (int j = 0; j < shape[3]; j++)
        {
            a[0, 0, i, j] = rng.Next(-3, 4);
        }
        return a;
    }

    private static Tensor<float> Tensor(double[,,,] a, int[] shape) =>
        Tensor<float>.FromArray(a.Cast<double>().Select(v => (float)v).ToArray(), shape);
}
