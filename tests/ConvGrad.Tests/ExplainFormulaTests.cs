using ConvGrad.Explain;

namespace ConvGrad.Tests;

/// <summary>
/// The explicit formulas of <c>convgrad explain</c>, derived from index arithmetic alone, evaluate to exactly the
/// engine's forward, dX and dW on integer inputs, for many random small geometries (1-3 D, stride, asymmetric
/// padding, dilation, groups, batch).
/// </summary>
public class ExplainFormulaTests
{
    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (int seed = 1; seed <= 60; seed++)
        {
            data.Add(seed);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Formulas_EvaluateExactlyToEngine_OnIntegers(int seed)
    {
        var rng = new Random(seed);
        var (g, xShape, wShape) = RandomProblem(rng);
        var d = Derivation.Derive(g, xShape, wShape);

        var x = IntegerTensor(rng, xShape);
        var w = IntegerTensor(rng, wShape);
        var dy = IntegerTensor(rng, d.OutputShape);
        double[] xs = Doubles(x), ws = Doubles(w), dys = Doubles(dy);

        string geometry = $"seed {seed}: x {Shapes.Format(xShape)}, w {Shapes.Format(wShape)}, {g}";
        Assert.Equal(Doubles(Conv.Forward(x, w, null, g)), FormulaEvaluator.Evaluate(d, FormulaPass.Forward, xs, ws, dys));
        Assert.Equal(Doubles(Conv.BackwardWeight(x, dy, g, wShape)), FormulaEvaluator.Evaluate(d, FormulaPass.KernelGradient, xs, ws, dys));
        Assert.Equal(Doubles(Conv.BackwardData(dy, w, g, xShape)), FormulaEvaluator.Evaluate(d, FormulaPass.InputGradient, xs, ws, dys));
        Assert.True(ExplainVerifier.Integers(d, seed).Passed, geometry);
        Assert.True(ExplainVerifier.Random(d, seed).Passed, geometry);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void EveryCandidateTerm_IsKeptOrDroppedWithItsConstraint(int seed)
    {
        var rng = new Random(seed);
        var (g, xShape, wShape) = RandomProblem(rng);
        var d = Derivation.Derive(g, xShape, wShape);
        var p = d.Problem;
        // Forward and dK: every (c', tap) or (n, output) pair appears once, kept or dropped.
        Assert.All(d.Forward, f => Assert.Equal(p.Cg * p.KerSpatial, f.Terms.Count + f.Excluded.Count));
        Assert.All(d.KernelGradient, f => Assert.Equal(p.N * p.OutSpatial, f.Terms.Count + f.Excluded.Count));
        // dI: every (k in group, tap) pair appears once; a dropped one really violates its constraint.
        Assert.All(d.InputGradient, f =>
        {
            Assert.Equal(p.Kg * p.KerSpatial, f.Terms.Count + f.Excluded.Count);
            Assert.All(f.Excluded, e =>
            {
                var o = e.Left[2 + e.Why.Axis];
                Assert.Equal(e.Why.Kind == ExclusionKind.NotWhole, !o.IsWhole);
                if (e.Why.Kind == ExclusionKind.BeforeStart)
                {
                    Assert.True(o.Num < 0);
                }
                if (e.Why.Kind == ExclusionKind.PastEnd)
                {
                    Assert.True(o.Num / o.Den >= e.Why.Size);
                }
            });
        });
    }

    [Fact]
    public void Verifier_DetectsAFormulaWithOneTermMissing()
    {
        var g = ConvGeometry.Uniform(2, stride: 2);
        var d = Derivation.Derive(g, [1, 1, 4, 4], [1, 1, 2, 2]);
        var broken = d.InputGradient.Select((f, i) => i == 5 ? f with { Terms = f.Terms.Skip(1).ToList() } : f).ToList();
        var rng = new Random(3);
        var dy = IntegerTensor(rng, d.OutputShape, nonZero: true);
        var w = IntegerTensor(rng, d.WeightShape, nonZero: true);
        var engine = Doubles(Conv.BackwardData(dy, w, g, d.InputShape));
        var formula = FormulaEvaluator.Evaluate(broken, Doubles(dy), d.OutputShape, Doubles(w), d.WeightShape, d.InputShape);
        Assert.NotEqual(engine[5], formula[5]);
    }

    [Fact]
    public void Evaluator_LeavesElementsWithoutFormulaAsNaN()
    {
        var d = Derivation.Derive(ConvGeometry.Uniform(1), [1, 1, 3], [1, 1, 2]);
        var result = FormulaEvaluator.Evaluate(d.Forward.Take(1).ToList(), [1, 2, 3], d.InputShape, [1, 1], d.WeightShape, d.OutputShape);
        Assert.Equal(3, result[0]);
        Assert.True(double.IsNaN(result[1]));
    }

    [Fact]
    public void Stride2_TrailingRow_IsUnreachedAndHasAnEmptySum()
    {
        var d = Derivation.Derive(ConvGeometry.Uniform(2, stride: 2), [1, 1, 5, 5], [1, 1, 2, 2]);
        Assert.Equal([true, true, true, true, false], d.Reached[0]);
        var last = d.InputGradient.Single(f => f.Target.SequenceEqual(new[] { 0, 0, 4, 0 }));
        Assert.Empty(last.Terms);
        Assert.All(last.Excluded, e => Assert.NotEqual(ExclusionKind.BeforeStart, e.Why.Kind));
    }

    internal static (ConvGeometry G, int[] X, int[] W) RandomProblem(Random rng)
    {
        while (true)
        {
            int dims = rng.Next(1, 4);
            int groups = rng.Next(1, 3);
            int n = rng.Next(1, 3);
            int c = groups * rng.Next(1, 3);
            int k = groups * rng.Next(1, 3);
            int maxIn = dims == 3 ? 4 : dims == 2 ? 6 : 9;
            var input = Enumerable.Range(0, dims).Select(_ => rng.Next(1, maxIn + 1)).ToArray();
            var kernel = Enumerable.Range(0, dims).Select(_ => rng.Next(1, 4)).ToArray();
            var stride = Enumerable.Range(0, dims).Select(_ => rng.Next(1, 4)).ToArray();
            var dilation = Enumerable.Range(0, dims).Select(_ => rng.Next(1, 3)).ToArray();
            var before = Enumerable.Range(0, dims).Select(_ => rng.Next(0, 3)).ToArray();
            var after = Enumerable.Range(0, dims).Select(_ => rng.Next(0, 3)).ToArray();
            bool fits = Enumerable.Range(0, dims).All(a => dilation[a] * (kernel[a] - 1) + 1 <= input[a] + before[a] + after[a]);
            if (fits)
            {
                return (new ConvGeometry(stride, before, after, dilation, groups), [n, c, .. input], [k, c / groups, .. kernel]);
            }
        }
    }

    private static Tensor<float> IntegerTensor(Random rng, int[] shape, bool nonZero = false)
    {
        var t = new Tensor<float>(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = nonZero ? rng.Next(1, 4) : rng.Next(-3, 4);
        }
        return t;
    }

    private static double[] Doubles(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();
}

/// <summary>The verdict line of the verification section.</summary>
public class ExplainVerdictTests
{
    [Fact]
    public void Verdict_SaysVerifiedOnlyWhenEveryValueKindPassed()
    {
        var ok = new VerificationResult("integer", 0, 0, 0, Exact: true) { Passed = true };
        var bad = new VerificationResult("random", 1e-7, 0.5, 0, Exact: false) { Passed = false };
        Assert.StartsWith("verified: forward, dK, dI agree with the engine (max error 0 on integer values)", ExplainDocumentBuilder.Verdict([ok]), StringComparison.Ordinal);
        string failed = ExplainDocumentBuilder.Verdict([ok, bad]);
        Assert.StartsWith("FAILED:", failed, StringComparison.Ordinal);
        Assert.Contains("dK 5.0e-1", failed, StringComparison.Ordinal);
    }
}
