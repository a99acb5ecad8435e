using ConvGrad.Nn;
using ConvGrad.Training;

namespace ConvGrad.Tests;

/// <summary>The autograd-overhead measurement: its parts are consistent; no timing is asserted.</summary>
public class AutogradOverheadTests
{
    [Fact]
    public void Measure_ReportsConsistentParts_AndLeavesTheModelTrainable()
    {
        var model = new ResNet<float>(new Random(3), [4, 4, 8], 1);
        var x = Tensor<float>.Zeros(2, 1, 28, 28);
        var xs = x.Span;
        var rng = new Random(4);
        for (int i = 0; i < xs.Length; i++)
        {
            xs[i] = (float)rng.NextDouble();
        }
        var o = AutogradOverhead.Measure(model, x, [3, 7], repeats: 2);

        Assert.True(o.StepSeconds > 0 && o.ForwardSeconds > 0 && o.RecordingForwardSeconds > 0);
        Assert.True(o.BookkeepingSeconds >= 0 && o.RecordingSeconds >= 0);
        Assert.True(double.IsFinite(o.Share) && o.Share >= 0);
        Assert.True(o.Nodes > 10, $"{o.Nodes} nodes per backward pass");
        Assert.All(model.Parameters(), p => Assert.NotNull(p.Grad));
        Assert.Throws<ArgumentException>(() => AutogradOverhead.Measure(model, x, [3, 7], repeats: 0));
    }
}
