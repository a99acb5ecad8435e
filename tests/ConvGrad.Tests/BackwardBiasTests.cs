namespace ConvGrad.Tests;

/// <summary>The one bias-gradient implementation: engines, write-into overload, autograd.</summary>
public class BackwardBiasTests
{
    private static Tensor<float> Dy(params int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)Math.Sin(0.7 * i) * 3;
        }
        return t;
    }

    [Theory]
    [InlineData(new[] { 3, 5 })]
    [InlineData(new[] { 2, 4, 7 })]
    [InlineData(new[] { 2, 3, 5, 6 })]
    [InlineData(new[] { 1, 2, 3, 3, 3 })]
    public void FastAndReference_AgreeWithinTolerance(int[] shape)
    {
        using var dy = Dy(shape);
        using var fast = Conv.BackwardBias(dy, ConvOptions.Default);
        using var reference = Conv.BackwardBias(dy, new ConvOptions { Engine = ConvEngine.Reference });
        double maxE = reference.ToArray().Max(v => Math.Abs((double)v));
        double maxErr = fast.ToArray().Zip(reference.ToArray(), (a, e) => Math.Abs((double)a - e)).Max();
        Assert.True(Tolerance.Within(maxErr, maxE), $"max error {maxErr:e3}");
        using var into = Tensor<float>.Zeros(shape[1]);
        ConvTranspose.BackwardBias(dy, into);
        Assert.Equal(fast.ToArray(), into.ToArray());
    }

    [Fact]
    public void WriteInto_RefusesWrongShapesAndOverlap()
    {
        using var dy = Dy(2, 3, 4);
        var e = Assert.Throws<ArgumentException>(() => Conv.BackwardBias(dy, Tensor<float>.Zeros(4)));
        Assert.Equal("db", e.ParamName);
        var o = Assert.Throws<ArgumentException>(() => Conv.BackwardBias(dy, Tensor<float>.ViewOf(dy, 0, 3)));
        Assert.Equal("db", o.ParamName);
        var r = Assert.Throws<ArgumentException>(() => Conv.BackwardBias(Tensor<float>.Zeros(5)));
        Assert.Equal("dy", r.ParamName);
    }

    [Fact]
    public void Autograd_BiasGradient_IsConvBackwardBias()
    {
        var g = ConvGeometry.Uniform(2, padding: 1);
        var x = new Autograd.Variable<float>(Dy(2, 3, 5, 5));
        var w = new Autograd.Variable<float>(Dy(4, 3, 3, 3));
        var b = new Autograd.Variable<float>(Tensor<float>.Zeros(4), requiresGrad: true);
        var y = Autograd.Functional.Conv(x, w, b, g);
        using var dy = Dy(y.Shape.ToArray());
        y.Backward(dy);
        using var expected = Conv.BackwardBias(dy);
        Assert.Equal(expected.ToArray(), b.Grad!.ToArray());
    }
}
