using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>The transposed-convolution check of one geometry on one set of integer values.</summary>
/// <param name="Call">The public call that computes it, with its geometry.</param>
/// <param name="Torch">PyTorch's equivalent call, or null when the padding is asymmetric (PyTorch's conv_transpose cannot express it).</param>
/// <param name="OutputPadding">output_padding per axis: the trailing positions the transposed convolution must add to reach the input's size.</param>
/// <param name="Values">ConvTranspose.Forward(dO, K) in dI's order (batch, channel, positions).</param>
/// <param name="ScatterDifference">Largest difference from the transposed convolution's defining sum, computed here by scattering every dO element through K.</param>
/// <param name="EngineDifference">Largest difference from this convolution's dI as the engine computes it (Conv.BackwardData).</param>
/// <param name="FormulaDifference">Largest difference from the derived dI formulas evaluated on the same values.</param>
internal sealed record TransposedResult(string Call, string? Torch, IReadOnlyList<int> OutputPadding, IReadOnlyList<double> Values,
    double ScatterDifference, double EngineDifference, double FormulaDifference)
{
    /// <summary>All three agree exactly (integer values: every sum is exact).</summary>
    public bool Equal => ScatterDifference == 0 && EngineDifference == 0 && FormulaDifference == 0;
}

/// <summary>
/// A transposed convolution's forward pass on dO, with this convolution's stride, padding, dilation and groups, the
/// weight K read as <c>[C_in, C_out/groups, k...]</c> = <c>[K, C/G, k...]</c> and output_padding supplying the
/// trailing positions, is this convolution's dI. Checked numerically: ConvTranspose.Forward (the public API), the
/// transposed convolution's own defining sum (every dO(o) scattered through K to <c>i = o·s + r·d − p</c>), the
/// engine's dI and the derived formulas must agree exactly on integers.
/// </summary>
internal static class TransposedCheck
{
    /// <summary>output_padding per axis: <c>(in + p + q − d·(k − 1) − 1) mod s</c>.</summary>
    public static int[] OutputPadding(Derivation d)
    {
        var g = d.Geometry;
        var p = d.Problem;
        return Enumerable.Range(0, p.Dims).Select(a =>
        {
            int x = Derivation.Axis3(p, a);
            return (p.InputSize[x] + g.PaddingBefore[a] + g.PaddingAfter[a] - g.Dilation[a] * (p.KernelSize[x] - 1) - 1) % g.Stride[a];
        }).ToArray();
    }

    /// <summary>Runs the check on the integer values of <paramref name="seed"/> (those <see cref="ExplainVerifier.Integers"/> uses).</summary>
    public static TransposedResult Run(Derivation d, int seed)
    {
        var g = d.Geometry;
        var p = d.Problem;
        int[] outputPadding = OutputPadding(d);
        var transposed = new ConvGeometry(g.Stride.AsSpan(), g.PaddingBefore.AsSpan(), g.PaddingAfter.AsSpan(), g.Dilation.AsSpan(), g.Groups, outputPadding);
        var (x, w, dy) = ExplainVerifier.IntegerOperands(d, seed);
        using (x)
        using (w)
        using (dy)
        {
            using var viaApi = ConvTranspose.Forward(dy, w, null, transposed);
            using var dx = Conv.BackwardData(dy, w, g, d.InputShape);
            double[] dys = ToDouble(dy), ws = ToDouble(w);
            double[] scatter = Scatter(p, dys, ws);
            double[] formulas = FormulaEvaluator.Evaluate(d, FormulaPass.InputGradient, ToDouble(x), ws, dys);
            double[] api = ToDouble(viaApi);
            return new TransposedResult(Call(g, outputPadding), Torch(g, p.Dims, outputPadding), outputPadding, api,
                MaxDifference(api, scatter), MaxDifference(api, ToDouble(dx)), MaxDifference(api, formulas));
        }
    }

    /// <summary>The transposed convolution by its definition: every dO(n, k, o) times every tap K(k, c′, r) added to y(n, c, o·s + r·d − p) when that lies inside.</summary>
    private static double[] Scatter(ConvProblem p, double[] dy, double[] w)
    {
        var y = new double[p.N * p.C * p.InSpatial];
        int dims = p.Dims;
        int[] outSize = Enumerable.Range(0, dims).Select(a => p.OutputSize[Derivation.Axis3(p, a)]).ToArray();
        int[] kerSize = Enumerable.Range(0, dims).Select(a => p.KernelSize[Derivation.Axis3(p, a)]).ToArray();
        int[] inSize = Enumerable.Range(0, dims).Select(a => p.InputSize[Derivation.Axis3(p, a)]).ToArray();
        var outputs = StridePhases.Cartesian(outSize.Select(v => Enumerable.Range(0, v).ToArray()).ToArray());
        var taps = StridePhases.Cartesian(kerSize.Select(v => Enumerable.Range(0, v).ToArray()).ToArray());
        for (int n = 0; n < p.N; n++)
        for (int k = 0; k < p.K; k++)
        {
            int g = k / p.Kg;
            for (int oi = 0; oi < outputs.Count; oi++)
            {
                double v = dy[(n * p.K + k) * outputs.Count + oi];
                for (int cg = 0; cg < p.Cg; cg++)
                {
                    int c = g * p.Cg + cg;
                    for (int ri = 0; ri < taps.Count; ri++)
                    {
                        int flat = n * p.C + c;
                        bool inside = true;
                        for (int a = 0; a < dims; a++)
                        {
                            int x = Derivation.Axis3(p, a);
                            int i = outputs[oi][a] * p.Strides[x] + taps[ri][a] * p.Dilations[x] - p.Padding[x];
                            inside &= i >= 0 && i < inSize[a];
                            flat = flat * inSize[a] + i;
                        }
                        if (inside)
                        {
                            y[flat] += v * w[(k * p.Cg + cg) * taps.Count + ri];
                        }
                    }
                }
            }
        }
        return y;
    }

    private static string Call(ConvGeometry g, int[] outputPadding) =>
        $"ConvTranspose.Forward(dO, K, null, new ConvGeometry(stride: {Arr(g.Stride)}, paddingBefore: {Arr(g.PaddingBefore)}, paddingAfter: {Arr(g.PaddingAfter)}, " +
        $"dilation: {Arr(g.Dilation)}, groups: {Inv($"{g.Groups}")}, outputPadding: {Arr(outputPadding)}))";

    private static string? Torch(ConvGeometry g, int dims, int[] outputPadding) =>
        !g.PaddingBefore.SequenceEqual(g.PaddingAfter) ? null :
            $"torch.nn.functional.conv_transpose{Inv($"{dims}")}d(dO, K, stride={Tuple(g.Stride)}, padding={Tuple(g.PaddingBefore)}, " +
            $"output_padding={Tuple(outputPadding)}, groups={Inv($"{g.Groups}")}, dilation={Tuple(g.Dilation)})";

    private static string Arr(IEnumerable<int> v) => "[" + string.Join(", ", v.Select(x => x.ToString(CultureInfo.InvariantCulture))) + "]";

    private static string Tuple(IEnumerable<int> v)
    {
        var a = v.ToArray();
        return a.Distinct().Count() == 1 ? a[0].ToString(CultureInfo.InvariantCulture) : "(" + string.Join(", ", a.Select(x => x.ToString(CultureInfo.InvariantCulture))) + ")";
    }

    private static double MaxDifference(double[] a, double[] b)
    {
        if (a.Length != b.Length)
        {
            return double.PositiveInfinity;
        }
        double m = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double diff = Math.Abs(a[i] - b[i]);
            m = double.IsNaN(diff) ? double.PositiveInfinity : Math.Max(m, diff);
        }
        return m;
    }

    private static double[] ToDouble(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
