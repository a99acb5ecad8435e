using CsCheck;

namespace ConvGrad.Tests;

/// <summary>
/// Central finite differences of L(x, w, b) = Σ conv(x, w, b)·dy agree with the analytic gradients in float64.
/// </summary>
public class GradientCheckTests
{
    private const double H = 1e-4;

    private static double Loss(Tensor<double> x, Tensor<double> w, Tensor<double> b, Tensor<double> dy, ConvGeometry g) =>
        RandomProblems.Dot(Conv.Forward(x, w, b, g).Span, dy.Span);

    [Fact]
    public void AnalyticGradients_MatchCentralDifferences()
    {
        RandomProblems.Conv.Sample(c =>
        {
            var rng = new Random(c.Seed);
            var g = c.Geometry;
            var x = RandomProblems.Random<double>(rng, c.InputShape);
            var w = RandomProblems.Random<double>(rng, c.WeightShape);
            var b = RandomProblems.Random<double>(rng, [c.K]);
            var dy = RandomProblems.Random<double>(rng, c.OutputShape);
            var dx = Conv.BackwardData(dy, w, g, x.Shape);
            var dw = Conv.BackwardWeight(x, dy, g, w.Shape);
            var db = Conv.BackwardBias(dy);
            foreach (var (param, grad, name) in new[] { (x, dx, "dx"), (w, dw, "dw"), (b, db, "db") })
            {
                // A handful of coordinates per tensor keeps the check cheap; the adjoint test covers all of them.
                for (int trial = 0; trial < 4; trial++)
                {
                    int i = rng.Next((int)param.Length);
                    double saved = param.Span[i];
                    param.Span[i] = saved + H;
                    double plus = Loss(x, w, b, dy, g);
                    param.Span[i] = saved - H;
                    double minus = Loss(x, w, b, dy, g);
                    param.Span[i] = saved;
                    double numeric = (plus - minus) / (2 * H);
                    Assert.True(Math.Abs(numeric - grad.Span[i]) <= 1e-7 * (1 + Math.Abs(numeric)),
                        $"{name}[{i}]: finite difference {numeric}, analytic {grad.Span[i]} for {c}");
                }
            }
        }, iter: 100);
    }
}
