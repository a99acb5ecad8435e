using CsCheck;

namespace ConvGrad.Tests;

/// <summary>
/// The three passes are adjoint linear maps: ⟨conv(x,w), dy⟩ = ⟨x, dX(dy,w)⟩ = ⟨w, dW(x,dy)⟩, in float64 to 1e-12
/// relative. "Relative" is to the size of the terms summed, ⟨conv(|x|,|w|), |dy|⟩, not to the result: the three inner
/// products add the same products x·w·dy in different orders, and a float64 sum's rounding error is bounded by
/// (number of terms)·ε·Σ|term|, which cancellation in ⟨y,dy⟩ does not shrink (a sum near zero of large terms would
/// otherwise fail a correct implementation, as seed a47MzlxB5NU1 did at 1.07e-12).
/// </summary>
public class AdjointTests
{
    private const double Tolerance = 1e-12;

    [Fact]
    public void BackwardDataAndBackwardWeight_AreAdjointsOfForward()
    {
        RandomProblems.Conv.Sample(c =>
        {
            var rng = new Random(c.Seed);
            var g = c.Geometry;
            var x = RandomProblems.Random<double>(rng, c.InputShape);
            var w = RandomProblems.Random<double>(rng, c.WeightShape);
            var dy = RandomProblems.Random<double>(rng, c.OutputShape);
            double yDy = RandomProblems.Dot(Conv.Forward(x, w, null, g).Span, dy.Span);
            double xDx = RandomProblems.Dot(x.Span, Conv.BackwardData(dy, w, g, x.Shape).Span);
            double wDw = RandomProblems.Dot(w.Span, Conv.BackwardWeight(x, dy, g, w.Shape).Span);
            double scale = Math.Max(1.0, RandomProblems.Dot(Conv.Forward(Abs(x), Abs(w), null, g).Span, Abs(dy).Span));
            Assert.True(Math.Abs(yDy - xDx) <= Tolerance * scale, $"<y,dy>={yDy} <x,dx>={xDx} for {c}");
            Assert.True(Math.Abs(yDy - wDw) <= Tolerance * scale, $"<y,dy>={yDy} <w,dw>={wDw} for {c}");
        }, iter: 200);
    }

    [Fact]
    public void TransposedConvolution_IsAdjointOfItsBackwardPasses()
    {
        var gen =
            from c in RandomProblems.Conv
            from op in Gen.Int[0, 3].Array[c.Dims]
            select (c, op);
        gen.Sample(t =>
        {
            var (c, op) = t;
            // Keep output_padding valid: below max(stride, dilation) on every axis.
            var outputPadding = c.Axes.Select((a, i) => op[i] % Math.Max(a.Stride, a.Dilation)).ToArray();
            var g = new ConvGeometry(c.Geometry.Stride.AsSpan(), c.Geometry.PaddingBefore.AsSpan(), c.Geometry.PaddingAfter.AsSpan(),
                c.Geometry.Dilation.AsSpan(), c.Groups, outputPadding);
            // A transposed convolution with C_in = K and C_out = C, weight [C_in, C_out/G, k].
            int[] xShape = [c.N, c.K, .. c.Axes.Select(a => a.Input)];
            int[] wShape = [c.K, c.Cg, .. c.Axes.Select(a => a.Kernel)];
            int[] yShape;
            try
            {
                yShape = g.TransposeOutputShape(xShape, wShape);
            }
            catch (ArgumentException)
            {
                return; // the crop leaves nothing: a geometry the op rejects, covered by the validation tests
            }
            var rng = new Random(c.Seed);
            var x = RandomProblems.Random<double>(rng, xShape);
            var w = RandomProblems.Random<double>(rng, wShape);
            var dy = RandomProblems.Random<double>(rng, yShape);
            double yDy = RandomProblems.Dot(ConvTranspose.Forward(x, w, null, g).Span, dy.Span);
            double xDx = RandomProblems.Dot(x.Span, ConvTranspose.BackwardData(dy, w, g, xShape).Span);
            double wDw = RandomProblems.Dot(w.Span, ConvTranspose.BackwardWeight(x, dy, g, wShape).Span);
            double scale = Math.Max(1.0, RandomProblems.Dot(ConvTranspose.Forward(Abs(x), Abs(w), null, g).Span, Abs(dy).Span));
            Assert.True(Math.Abs(yDy - xDx) <= Tolerance * scale, $"<y,dy>={yDy} <x,dx>={xDx} for {c} op={Shapes.Format(outputPadding)}");
            Assert.True(Math.Abs(yDy - wDw) <= Tolerance * scale, $"<y,dy>={yDy} <w,dw>={wDw} for {c} op={Shapes.Format(outputPadding)}");
        }, iter: 150);
    }

    [Fact]
    public void TransposedForward_EqualsConvolutionBackwardData_WithMatchingOutputPadding()
    {
        RandomProblems.Conv.Sample(c =>
        {
            var g = c.Geometry;
            int[] yShape = c.OutputShape;
            // output_padding = a, the rows the stride leaves over, makes the transposed output as large as the conv input.
            var a = c.Axes.Select((ax, i) => (ax.Input + ax.PadBefore + ax.PadAfter - ax.Dilation * (ax.Kernel - 1) - 1) % ax.Stride).ToArray();
            var gt = new ConvGeometry(g.Stride.AsSpan(), g.PaddingBefore.AsSpan(), g.PaddingAfter.AsSpan(), g.Dilation.AsSpan(), c.Groups, a);
            var rng = new Random(c.Seed);
            var w = RandomProblems.Random<double>(rng, c.WeightShape);
            var dy = RandomProblems.Random<double>(rng, yShape);
            var dx = Conv.BackwardData(dy, w, g, c.InputShape);
            var yt = ConvTranspose.Forward(dy, w, null, gt);
            Assert.Equal(dx.Shape.ToArray(), yt.Shape.ToArray());
            Assert.Equal(dx.ToArray(), yt.ToArray());
        }, iter: 150);
    }

    /// <summary>The elementwise absolute value: the same sum with every term made positive sizes its rounding error.</summary>
    private static Tensor<double> Abs(Tensor<double> t)
    {
        var a = t.ToArray();
        for (int i = 0; i < a.Length; i++) a[i] = Math.Abs(a[i]);
        return Tensor<double>.Wrap(a, t.Shape);
    }
}
