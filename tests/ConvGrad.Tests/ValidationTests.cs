namespace ConvGrad.Tests;

/// <summary>Every invalid geometry or shape throws an ArgumentException that names the parameter and the offending values.</summary>
public class ValidationTests
{
    private static void Throws(string param, string fragment, Action action)
    {
        var e = Assert.ThrowsAny<ArgumentException>(action);
        Assert.Equal(param, e.ParamName);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    private static ConvGeometry G2(int stride = 1, int pad = 0, int dil = 1, int groups = 1) => ConvGeometry.Uniform(2, stride, pad, dil, groups);

    [Fact]
    public void Geometry_RejectsBadParameters()
    {
        Throws("stride", "got 0", () => _ = new ConvGeometry([], [], [], []));
        Throws("stride", "got 4", () => _ = new ConvGeometry([1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]));
        Throws("stride", "[1, 0]", () => _ = new ConvGeometry([1, 0], [0, 0], [0, 0], [1, 1]));
        Throws("paddingBefore", "[0, -1]", () => _ = new ConvGeometry([1, 1], [0, -1], [0, 0], [1, 1]));
        Throws("paddingAfter", "[-2, 0]", () => _ = new ConvGeometry([1, 1], [0, 0], [-2, 0], [1, 1]));
        Throws("dilation", "[0, 1]", () => _ = new ConvGeometry([1, 1], [0, 0], [0, 0], [0, 1]));
        Throws("groups", "got 0", () => _ = new ConvGeometry([1, 1], [0, 0], [0, 0], [1, 1], groups: 0));
        Throws("outputPadding", "[-1, 0]", () => _ = new ConvGeometry([1, 1], [0, 0], [0, 0], [1, 1], 1, [-1, 0]));
        Throws("paddingBefore", "has 1 entries", () => _ = new ConvGeometry([1, 1], [0], [0, 0], [1, 1]));
        Throws("dilation", "has 3 entries", () => _ = new ConvGeometry([1, 1], [0, 0], [0, 0], [1, 1, 1]));
        Throws("dims", "got 4", () => ConvGeometry.Uniform(4));
        Throws("kernelSpatial", "[3, 0]", () => ConvGeometry.Same([3, 0]));
        Throws("dilation", "has 1 entries", () => ConvGeometry.Same([3, 3], [2]));
    }

    [Fact]
    public void Same_PutsTheExtraPaddingAfter_LikePyTorch()
    {
        var g = ConvGeometry.Same([4, 3], [1, 2]);
        Assert.Equal([1, 2], g.PaddingBefore.ToArray());
        Assert.Equal([2, 2], g.PaddingAfter.ToArray());
        Assert.Equal([1, 1, 7, 9], g.ConvOutputShape([1, 1, 7, 9], [1, 1, 4, 3]));
        var v = ConvGeometry.Valid(1, stride: 2);
        Assert.Equal([1, 1, 3], v.ConvOutputShape([1, 1, 7], [1, 1, 3]));
    }

    [Fact]
    public void Conv_RejectsBadShapes()
    {
        var x = new Tensor<float>(1, 4, 5, 5);
        Throws("kernelShape", "larger than the padded input", () => Conv.Forward(x, new Tensor<float>(2, 4, 6, 3), null, G2()));
        Throws("kernelShape", "dilation 3", () => Conv.Forward(x, new Tensor<float>(2, 4, 3, 3), null, G2(dil: 3)));
        Throws("x", "not divisible by groups = 3", () => Conv.Forward(x, new Tensor<float>(3, 1, 3, 3), null, G2(groups: 3)));
        Throws("w", "not divisible by groups = 2", () => Conv.Forward(x, new Tensor<float>(3, 2, 3, 3), null, G2(groups: 2)));
        Throws("w", "C/groups = 4/2 = 2", () => Conv.Forward(x, new Tensor<float>(2, 4, 3, 3), null, G2(groups: 2)));
        Throws("x", "[1, 4, 5]", () => Conv.Forward(new Tensor<float>(1, 4, 5), new Tensor<float>(2, 4, 3, 3), null, G2()));
        Throws("w", "[2, 4, 3]", () => Conv.Forward(x, new Tensor<float>(2, 4, 3), null, G2()));
        Throws("b", "[3]", () => Conv.Forward(x, new Tensor<float>(2, 4, 3, 3), new Tensor<float>(3), G2()));
        Throws("geometry", "outputPadding applies only", () => Conv.Forward(x, new Tensor<float>(2, 4, 3, 3), null, ConvGeometry.Uniform(2, stride: 2, outputPadding: 1)));
        Throws("y", "[1, 2, 3, 3]", () => Conv.Forward(x, new Tensor<float>(2, 4, 3, 3), null, G2(), new Tensor<float>(1, 2, 4, 4)));
    }

    [Fact]
    public void BackwardPasses_RejectMismatchedShapes()
    {
        var w = new Tensor<float>(2, 4, 3, 3);
        Throws("dy", "[1, 2, 3, 3]", () => Conv.BackwardData(new Tensor<float>(1, 2, 4, 3), w, G2(), [1, 4, 5, 5]));
        Throws("inputShape", "[1, 0, 5, 5]", () => Conv.BackwardData(new Tensor<float>(1, 2, 3, 3), w, G2(), [1, 0, 5, 5]));
        Throws("inputShape", "[1, 4, 5]", () => Conv.BackwardData(new Tensor<float>(1, 2, 3, 3), w, G2(), [1, 4, 5]));
        Throws("dy", "[1, 2, 3, 3]", () => Conv.BackwardWeight(new Tensor<float>(1, 4, 5, 5), new Tensor<float>(1, 3, 3, 3), G2(), [2, 4, 3, 3]));
        Throws("kernelShape", "C/groups", () => Conv.BackwardWeight(new Tensor<float>(1, 4, 5, 5), new Tensor<float>(1, 2, 3, 3), G2(), [2, 3, 3, 3]));
        Throws("dy", "[N, K, spatial...]", () => Conv.BackwardBias(new Tensor<float>(5)));
    }

    [Fact]
    public void ConvTranspose_RejectsBadGeometry()
    {
        var x = new Tensor<float>(1, 4, 3, 3);
        Throws("w", "C_in = 4", () => ConvTranspose.Forward(x, new Tensor<float>(3, 2, 3, 3), null, G2()));
        Throws("OutputPadding", "smaller than max(stride, dilation)", () =>
            ConvTranspose.Forward(x, new Tensor<float>(4, 2, 3, 3), null, ConvGeometry.Uniform(2, stride: 2, outputPadding: 2)));
        Throws("PaddingBefore", "would be -1", () =>
            ConvTranspose.Forward(new Tensor<float>(1, 4, 1, 1), new Tensor<float>(4, 2, 1, 1), null, ConvGeometry.Uniform(2, padding: 1)));
        Throws("x", "not divisible by groups = 3", () => ConvTranspose.Forward(x, new Tensor<float>(4, 1, 3, 3), null, G2(groups: 3)));
        Throws("b", "[2]", () => ConvTranspose.Forward(x, new Tensor<float>(4, 2, 3, 3), new Tensor<float>(3), G2()));
        // Kernel larger than the input is fine for a transposed convolution.
        Assert.Equal([1, 2, 7, 7], ConvTranspose.Forward(x, new Tensor<float>(4, 2, 5, 5), null, G2()).Shape.ToArray());
    }

    [Fact]
    public void ElementCountOverflow_IsRefused()
    {
        Throws("x", "more than a tensor can hold", () => Conv.BackwardData(new Tensor<float>(1, 1, 1, 1), new Tensor<float>(1, 1, 1, 1), G2(), [2, 1, 50000, 50000]));
        Throws("shape", "more than", () => _ = new Tensor<float>(70000, 70000));
    }

    [Fact]
    public void Tensor_RejectsBadShapesAndData()
    {
        Throws("shape", "[2, 0]", () => _ = new Tensor<float>(2, 0));
        Throws("shape", "at least one axis", () => _ = new Tensor<float>());
        Throws("data", "needs 6", () => Tensor<float>.FromArray([1, 2, 3], 2, 3));
        Throws("shape", "cannot reshape", () => new Tensor<float>(2, 3).Reshape(4, 2));
        Throws("index", "has 1 axes", () => _ = new Tensor<float>(2, 3)[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Tensor<float>(2, 3)[1, 3]);
    }

    [Fact]
    public void Options_RejectNegativeThreads() =>
        Throws("Threads", "got -1", () => _ = new ConvOptions { Threads = -1 });
}
