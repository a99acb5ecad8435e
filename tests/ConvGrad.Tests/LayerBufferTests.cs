using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>
/// Layers hand out handles of buffers they overwrite on their next call: a stale handle throws instead of showing the
/// new numbers, and a layer given its own earlier result computes into fresh memory, giving the numbers a copy gives.
/// </summary>
public class LayerBufferTests
{
    private static readonly ConvGeometry Same = ConvGeometry.Uniform(2, padding: 1);

    /// <summary>Layers whose output has the input's shape (so their result can be fed back in), built the same way every time.</summary>
    public static TheoryData<string> ShapeKeepingLayers => new() { "Conv2d", "ConvTranspose2d", "ReLU", "BatchNorm2d", "Dropout", "Linear" };

    /// <summary>Every layer with buffers.</summary>
    public static TheoryData<string> AllLayers => new() { "Conv2d", "ConvTranspose2d", "ReLU", "BatchNorm2d", "Dropout", "Linear", "MaxPool2d", "AvgPool2d" };

    private static Module<double> Make(string name) => name switch
    {
        "Conv2d" => new Conv2d<double>(4, 4, 3, Same, new Random(1)),
        "ConvTranspose2d" => new ConvTranspose2d<double>(4, 4, 3, Same, new Random(2)),
        "ReLU" => new ReLU<double>(),
        "BatchNorm2d" => new BatchNorm2d<double>(4),
        "Dropout" => new Dropout<double>(0.5, new Random(3)),
        "Linear" => new Linear<double>(6, 6, new Random(4)),
        "MaxPool2d" => new MaxPool2d<double>(2),
        "AvgPool2d" => new AvgPool2d<double>(2),
        _ => throw new ArgumentException(name),
    };

    private static Tensor<double> Input(string name, int seed) =>
        NnGradCheck.Random(new Random(seed), name == "Linear" ? [3, 6] : [2, 4, 6, 6]);

    [Theory]
    [MemberData(nameof(AllLayers))]
    public void StaleForwardOutput_Throws_AndACloneSurvives(string name)
    {
        var m = Make(name);
        var y1 = m.Forward(Input(name, 10));
        var kept = y1.Clone();
        var y2 = m.Forward(Input(name, 11));
        var e = Assert.Throws<InvalidOperationException>(() => y1.ReadOnlySpan.ToArray());
        Assert.Contains("overwritten", e.Message);
        Assert.Equal(y2.Length, y2.ReadOnlySpan.Length);
        Assert.False(kept.ReadOnlySpan.SequenceEqual(y2.ReadOnlySpan), "the two inputs should give different outputs");
    }

    [Theory]
    [MemberData(nameof(AllLayers))]
    public void StaleInputGradient_Throws(string name)
    {
        var m = Make(name);
        m.ComputeInputGradient = true;
        var y = m.Forward(Input(name, 10));
        var dy = NnGradCheck.Random(new Random(12), y.Shape.ToArray());
        var dx1 = m.Backward(dy)!;
        var kept = dx1.Clone();
        var dx2 = m.Backward(NnGradCheck.Random(new Random(13), y.Shape.ToArray()))!;
        Assert.Throws<InvalidOperationException>(() => dx1.Span[0]);
        Assert.Equal(kept.Length, dx2.ReadOnlySpan.Length);
    }

    /// <summary><c>m.Forward(m.Forward(x))</c> gives what the same layer gives on a copy of its first result.</summary>
    [Theory]
    [MemberData(nameof(ShapeKeepingLayers))]
    public void OwnOutputFedBack_ComputesAsOnACopy(string name)
    {
        var x = Input(name, 20);
        var reference = Make(name);
        var first = reference.Forward(x).Clone();
        var expected = reference.Forward(first).Clone();

        var m = Make(name);
        var y1 = m.Forward(x);
        var y2 = m.Forward(y1);
        Assert.Equal(expected.ToArray(), y2.ToArray());
        Assert.Equal(first.ToArray(), y1.ToArray());
    }

    /// <summary><c>m.Backward(m.Backward(dy))</c> gives what the same layer gives on a copy of its first input gradient.</summary>
    [Theory]
    [MemberData(nameof(ShapeKeepingLayers))]
    public void OwnInputGradientFedBack_ComputesAsOnACopy(string name)
    {
        var x = Input(name, 21);
        var dy = NnGradCheck.Random(new Random(22), x.Shape.ToArray());
        var reference = Make(name);
        reference.ComputeInputGradient = true;
        reference.Forward(x);
        var first = reference.Backward(dy)!.Clone();
        var expected = reference.Backward(first)!.Clone();

        var m = Make(name);
        m.ComputeInputGradient = true;
        m.Forward(x);
        var dx1 = m.Backward(dy)!;
        var dx2 = m.Backward(dx1)!;
        Assert.Equal(expected.ToArray(), dx2.ToArray());
        Assert.Equal(first.ToArray(), dx1.ToArray());
    }

    /// <summary>Disposing a layer's output retires only that handle: the layer keeps working.</summary>
    [Fact]
    public void DisposingALayerOutput_LeavesTheLayerWorking()
    {
        var m = Make("Conv2d");
        var x = Input("Conv2d", 30);
        var want = m.Forward(x).Clone();
        var y = m.Forward(x);
        y.Dispose();
        Assert.Throws<ObjectDisposedException>(() => y.Span[0]);
        Assert.Equal(want.ToArray(), m.Forward(x).ToArray());
    }
}
