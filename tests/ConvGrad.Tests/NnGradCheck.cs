using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>
/// Central finite differences in float64 for modules: with a fixed random upstream gradient R, the scalar
/// L(x, θ) = Σ forward(x)·R has ∂L/∂x = backward(R) and ∂L/∂θ = θ.Grad; each is compared with
/// (L(v + h) − L(v − h)) / 2h, element by element (all elements, or an evenly spaced sample of large tensors).
/// </summary>
internal static class NnGradCheck
{
    public const double Step = 1e-6;

    public static Tensor<double> Random(Random rng, params int[] shape)
    {
        var t = Tensor<double>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = 2 * rng.NextDouble() - 1;
        }
        return t;
    }

    /// <summary>
    /// Checks the module's input gradient and every parameter gradient, all computed by one <c>loss.Backward()</c> of
    /// <c>L = Σ forward(x)·R</c>. <paramref name="make"/> returns the module for each evaluation (the same instance for
    /// deterministic modules; a freshly seeded one for dropout).
    /// </summary>
    public static void Check(Func<Module<double>> make, Tensor<double> x, int seed = 1, double tolerance = 1e-6, int maxSamples = 60)
    {
        var m = make();
        var xv = new Variable<double>(x, requiresGrad: true);
        var y = m.Forward(xv);
        var r = Random(new Random(seed), y.Shape.ToArray());
        m.ZeroGrad();
        Functional.Sum(y * new Variable<double>(r)).Backward();
        var dx = xv.Grad!.Clone();
        var grads = m.NamedParameters().Select(p => (p.Name, p.Parameter, g: p.Parameter.Grad!.Clone())).ToList();

        double Loss()
        {
            using var _ = GradMode.NoGrad();
            var yy = make().Forward(x).Value;
            double sum = 0;
            var a = yy.ReadOnlySpan;
            var b = r.ReadOnlySpan;
            for (int i = 0; i < a.Length; i++)
            {
                sum += a[i] * b[i];
            }
            return sum;
        }

        Compare("x", x, dx, Loss, tolerance, maxSamples);
        foreach (var (name, p, g) in grads)
        {
            Compare(name, p.Value, g, Loss, tolerance, maxSamples);
        }
    }

    /// <summary>
    /// Checks <c>∂f/∂v</c> for every leaf in <paramref name="leaves"/> against central differences, where
    /// <paramref name="f"/> builds a scalar from the leaves (recording when gradients are enabled).
    /// </summary>
    public static void CheckFunction(Func<Variable<double>[], Variable<double>> f, Variable<double>[] leaves, double tolerance = 1e-6, int maxSamples = 60)
    {
        foreach (var v in leaves)
        {
            v.ZeroGrad();
        }
        f(leaves).Backward();
        var grads = leaves.Select(v => v.Grad?.Clone()).ToArray();
        double Loss()
        {
            using var _ = GradMode.NoGrad();
            return f(leaves).Item();
        }
        for (int i = 0; i < leaves.Length; i++)
        {
            Assert.True(grads[i] is not null, $"leaf {i} received no gradient");
            Compare($"leaf{i}", leaves[i].Value, grads[i]!, Loss, tolerance, maxSamples);
        }
    }

    private static void Compare(string name, Tensor<double> v, Tensor<double> analytic, Func<double> loss, double tolerance, int maxSamples)
    {
        long n = v.Length;
        long stride = Math.Max(1, n / maxSamples);
        double scale = 1 + analytic.ToArray().Max(Math.Abs);
        for (long i = 0; i < n; i += stride)
        {
            int k = (int)i;
            double keep = v.Span[k];
            v.Span[k] = keep + Step;
            double plus = loss();
            v.Span[k] = keep - Step;
            double minus = loss();
            v.Span[k] = keep;
            double numeric = (plus - minus) / (2 * Step);
            double a = analytic.Span[k];
            Assert.True(Math.Abs(numeric - a) <= tolerance * scale,
                $"∂L/∂{name}[{k}]: backward {a:R}, finite difference {numeric:R}");
        }
    }
}
