namespace ConvGrad.Explain;

/// <summary>The worst difference between the evaluated formulas and the engine, per pass, for one kind of values.</summary>
internal sealed record VerificationResult(string Values, double Forward, double KernelGradient, double InputGradient, bool Exact)
{
    /// <summary>The largest of the three errors.</summary>
    public double Max => Math.Max(Forward, Math.Max(KernelGradient, InputGradient));

    /// <summary>Integer values must agree exactly; random values within the golden tolerance 1e-4·(1 + max|e|) (checked per pass).</summary>
    public bool Passed { get; init; }
}

/// <summary>
/// Checks derived formulas against the engine: the formulas are evaluated on values (float64) and compared with
/// <see cref="Conv.Forward{T}(Tensor{T}, Tensor{T}, Tensor{T}?, ConvGeometry, ConvOptions?)"/>, BackwardWeight and
/// BackwardData run with <see cref="ConvOptions.Default"/> on the same float32 values.
/// </summary>
internal static class ExplainVerifier
{
    /// <summary>Random values uniform in [−1, 1) from a fixed seed.</summary>
    public static VerificationResult Random(Derivation d, int seed)
    {
        var rng = new Random(seed);
        return Check(d, "random", () => (float)(rng.NextDouble() * 2 - 1), exact: false);
    }

    /// <summary>Small integers in [−3, 3], for which every sum is exact in float32 and float64.</summary>
    public static VerificationResult Integers(Derivation d, int seed)
    {
        var (x, w, dy) = IntegerOperands(d, seed);
        return Check(d, "integer", x, w, dy, exact: true);
    }

    /// <summary>The I, K and dO that <see cref="Integers"/> checks with: integers in [−3, 3] from <paramref name="seed"/>.</summary>
    public static (Tensor<float> Input, Tensor<float> Kernel, Tensor<float> OutputGradient) IntegerOperands(Derivation d, int seed)
    {
        var rng = new Random(seed);
        Func<float> next = () => rng.Next(-3, 4);
        return (Fill(d.InputShape, next), Fill(d.WeightShape, next), Fill(d.OutputShape, next));
    }

    private static VerificationResult Check(Derivation d, string name, Func<float> next, bool exact) =>
        Check(d, name, Fill(d.InputShape, next), Fill(d.WeightShape, next), Fill(d.OutputShape, next), exact);

    private static VerificationResult Check(Derivation d, string name, Tensor<float> x, Tensor<float> w, Tensor<float> dy, bool exact)
    {
        var g = d.Geometry;
        var o = ConvOptions.Default;
        var y = Conv.Forward(x, w, null, g, o);
        var dw = Conv.BackwardWeight(x, dy, g, d.WeightShape, o);
        var dx = Conv.BackwardData(dy, w, g, d.InputShape, o);
        double[] xs = ToDouble(x), ws = ToDouble(w), dys = ToDouble(dy);
        var (ef, okF) = Compare(FormulaEvaluator.Evaluate(d, FormulaPass.Forward, xs, ws, dys), y, exact);
        var (ek, okK) = Compare(FormulaEvaluator.Evaluate(d, FormulaPass.KernelGradient, xs, ws, dys), dw, exact);
        var (ei, okI) = Compare(FormulaEvaluator.Evaluate(d, FormulaPass.InputGradient, xs, ws, dys), dx, exact);
        return new VerificationResult(name, ef, ek, ei, exact) { Passed = okF && okK && okI };
    }

    private static (double Error, bool Ok) Compare(double[] formula, Tensor<float> engine, bool exact)
    {
        var e = engine.ReadOnlySpan;
        double err = 0, scale = 0;
        bool ok = formula.Length == e.Length;
        for (int i = 0; ok && i < formula.Length; i++)
        {
            double diff = Math.Abs(formula[i] - e[i]);
            if (double.IsNaN(diff))
            {
                return (double.NaN, false);
            }
            err = Math.Max(err, diff);
            scale = Math.Max(scale, Math.Abs(formula[i]));
        }
        ok &= exact ? err == 0 : err <= Verification.TensorError.RelativeTolerance * (1 + scale);
        return (err, ok);
    }

    private static Tensor<float> Fill(int[] shape, Func<float> next)
    {
        var t = Tensor<float>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = next();
        }
        return t;
    }

    private static double[] ToDouble(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();
}
