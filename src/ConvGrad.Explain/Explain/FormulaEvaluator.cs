namespace ConvGrad.Explain;

/// <summary>
/// Evaluates derived element formulas on values: each element is the float64 sum of its terms' products, written at
/// the element's index. Elements no formula names stay NaN, so a missing formula cannot pass a comparison.
/// </summary>
internal static class FormulaEvaluator
{
    /// <summary>Σ_terms left[term.Left]·right[term.Right] for every formula, into a tensor of <paramref name="targetShape"/>.</summary>
    /// <param name="formulas">The formulas of one pass.</param>
    /// <param name="left">Values of the left operand (row-major, shape <paramref name="leftShape"/>).</param>
    /// <param name="leftShape">Shape of the left operand.</param>
    /// <param name="right">Values of the right operand.</param>
    /// <param name="rightShape">Shape of the right operand.</param>
    /// <param name="targetShape">Shape of the result.</param>
    public static double[] Evaluate(
        IReadOnlyList<ElementFormula> formulas,
        ReadOnlySpan<double> left, ReadOnlySpan<int> leftShape,
        ReadOnlySpan<double> right, ReadOnlySpan<int> rightShape,
        ReadOnlySpan<int> targetShape)
    {
        var result = new double[ShapeText.Product(targetShape)];
        Array.Fill(result, double.NaN);
        foreach (var f in formulas)
        {
            double sum = 0;
            foreach (var t in f.Terms)
            {
                sum += left[Flat(t.Left, leftShape)] * right[Flat(t.Right, rightShape)];
            }
            result[Flat(f.Target, targetShape)] = sum;
        }
        return result;
    }

    /// <summary>The formulas of <paramref name="pass"/> of <paramref name="d"/> on the given values (I, K, dO as needed).</summary>
    public static double[] Evaluate(Derivation d, FormulaPass pass, ReadOnlySpan<double> input, ReadOnlySpan<double> kernel, ReadOnlySpan<double> outputGradient) => pass switch
    {
        FormulaPass.Forward => Evaluate(d.Forward, input, d.InputShape, kernel, d.WeightShape, d.OutputShape),
        FormulaPass.KernelGradient => Evaluate(d.KernelGradient, input, d.InputShape, outputGradient, d.OutputShape, d.WeightShape),
        _ => Evaluate(d.InputGradient, outputGradient, d.OutputShape, kernel, d.WeightShape, d.InputShape),
    };

    private static int Flat(int[] index, ReadOnlySpan<int> shape)
    {
        if (index.Length != shape.Length)
        {
            throw new ArgumentException($"index of rank {index.Length} for shape {ShapeText.Format(shape)}", nameof(index));
        }
        int flat = 0;
        for (int a = 0; a < index.Length; a++)
        {
            if ((uint)index[a] >= (uint)shape[a])
            {
                throw new ArgumentException($"formula index {index[a]} on axis {a} is outside shape {ShapeText.Format(shape)}", nameof(index));
            }
            flat = flat * shape[a] + index[a];
        }
        return flat;
    }
}
