using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>PyTorch's gradient semantics (accumulation, shared use, no-grad, one backward per graph) and float64 finite differences through whole graphs.</summary>
public class AutogradTests
{
    private static Variable<double> Leaf(int seed, params int[] shape) => new(NnGradCheck.Random(new Random(seed), shape), requiresGrad: true);

    [Fact]
    public void Gradients_AccumulateOverBackwardPasses_UntilZeroGrad()
    {
        var x = Leaf(1, 3, 4);
        Functional.Sum(x * x).Backward();
        var once = x.Grad!.ToArray();
        Assert.Equal(x.Value.ToArray().Select(v => 2 * v), once);
        Functional.Sum(x * x).Backward();
        Assert.Equal(once.Select(v => 2 * v), x.Grad!.ToArray());
        x.ZeroGrad();
        Assert.Null(x.Grad);
        Functional.Mean(x).Backward();
        Assert.All(x.Grad!.ToArray(), v => Assert.Equal(1.0 / 12, v, 15));
    }

    [Fact]
    public void AVariableUsedTwice_ReceivesTheSumOfBothGradients()
    {
        var x = Leaf(2, 2, 3);
        var w = Leaf(3, 2, 3);
        // L = Σ (x + x·w) − x: ∂L/∂x = 1 + w − 1 = w; ∂L/∂w = x.
        Functional.Sum((x + x * w) - x).Backward();
        Assert.Equal(w.Value.ToArray(), x.Grad!.ToArray());
        Assert.Equal(x.Value.ToArray(), w.Grad!.ToArray());
    }

    [Fact]
    public void MicroBatchAccumulation_EqualsTheFullBatchGradient()
    {
        var rng = new Random(4);
        var model = new Sequential<double>(
            new Conv2d<double>(1, 3, 3, ConvGeometry.Uniform(2, padding: 1), rng), new ReLU<double>(), new Flatten<double>(),
            new Linear<double>(3 * 5 * 5, 4, rng));
        var x = NnGradCheck.Random(new Random(5), 4, 1, 5, 5);
        int[] labels = [0, 1, 2, 3];
        model.ZeroGrad();
        Functional.CrossEntropy(model.Forward(x), labels).Backward();
        var full = model.Parameters().Select(p => p.Grad!.ToArray()).ToList();
        model.ZeroGrad();
        for (int half = 0; half < 2; half++)
        {
            var xh = Tensor<double>.FromSpan(x.ReadOnlySpan.Slice(half * 50, 50), 2, 1, 5, 5);
            var loss = Functional.CrossEntropy(model.Forward(xh), labels.AsSpan(half * 2, 2));
            (loss * new Variable<double>(Tensor<double>.FromArray([0.5], 1))).Backward();
        }
        var accumulated = model.Parameters().Select(p => p.Grad!.ToArray()).ToList();
        for (int i = 0; i < full.Count; i++)
        {
            for (int j = 0; j < full[i].Length; j++)
            {
                Assert.Equal(full[i][j], accumulated[i][j], 12);
            }
        }
    }

    [Fact]
    public void NoGrad_RecordsNothing_AndRestoresRecordingWhenDisposed()
    {
        var x = Leaf(6, 2, 2);
        Variable<double> y;
        using (GradMode.NoGrad())
        {
            Assert.False(GradMode.IsEnabled);
            y = Functional.Relu(x);
        }
        Assert.True(GradMode.IsEnabled);
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        Assert.Throws<InvalidOperationException>(() => Functional.Sum(y).Backward());
        Assert.Equal("ReluBackward", Functional.Relu(x).GradFn!.Name);
    }

    [Fact]
    public void BackwardTwiceThroughOneGraph_Throws_AndANonScalarNeedsAGradient()
    {
        var x = Leaf(7, 3);
        var loss = Functional.Sum(Functional.Relu(x));
        loss.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("second time", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => Functional.Relu(x).Backward());
    }

    [Fact]
    public void Ops_RejectMismatchedShapes_NamingThem()
    {
        var e = Assert.Throws<ArgumentException>(() => Leaf(8, 2, 3) + Leaf(9, 3, 2));
        Assert.Contains("[2, 3]", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Functional.Concat(Leaf(1, 2, 3, 4, 4), Leaf(2, 2, 3, 4, 5)));
        Assert.Throws<ArgumentException>(() => Functional.Linear(Leaf(3, 2, 5), Leaf(4, 3, 4), null));
    }

    /// <summary>
    /// A random graph using every operation: a tensor used three times (concat, mul, the projection), a residual sum,
    /// a concatenation, both batch-norm modes, dropout with a fixed mask, and a loss of two terms.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void EveryOperationInOneGraph_MatchesFiniteDifferences(int seed)
    {
        var x = Leaf(seed, 2, 2, 6, 6);
        var w1 = Leaf(seed + 1, 3, 2, 3, 3);
        var b1 = Leaf(seed + 2, 3);
        var gamma = Leaf(seed + 3, 3);
        var beta = Leaf(seed + 4, 3);
        var wt = Leaf(seed + 5, 5, 2, 2, 2);
        var wl = Leaf(seed + 6, 4, 45);
        var bl = Leaf(seed + 7, 4);
        var w1d = Leaf(seed + 8, 2, 2, 3);
        var w3d = Leaf(seed + 9, 1, 2, 2, 2, 2);
        var evalMean = NnGradCheck.Random(new Random(seed + 10), 2);
        var evalVar = Tensor<double>.FromArray([0.7, 1.6], 2);
        var evalGamma = new Variable<double>(Tensor<double>.FromArray([1.3, -0.4], 2));
        var evalBeta = new Variable<double>(Tensor<double>.FromArray([0.2, 0.5], 2));
        int[] labels = [1, 3];
        var leaves = new[] { x, w1, b1, gamma, beta, wt, wl, bl, w1d, w3d };

        Variable<double> Graph(Variable<double>[] v)
        {
            var (xx, c1w, c1b, g, bt, tw, lw, lb, k1, k3) = (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);
            var a = Functional.Conv(xx, c1w, c1b, ConvGeometry.Uniform(2, padding: 1));                       // [2,3,6,6]
            var h = Functional.Relu(Functional.BatchNorm(a, g, bt, null, null, training: true));
            var d = Functional.Concat(h, xx);                                                                // [2,5,6,6]
            var e = Functional.MaxPool2d(d, 2);                                                              // [2,5,3,3]
            var f = Functional.GlobalAvgPool(Functional.AvgPool2d(d, 3, stride: 1, padding: 1));            // [2,5,1,1]
            var up = Functional.ConvTranspose(e, tw, null, ConvGeometry.Uniform(2, stride: 2));              // [2,2,6,6]
            var residual = up + xx * xx;                                                                     // x used again
            var z = Functional.Linear(Functional.Flatten(e), lw, lb);                                        // [2,4]
            z = Functional.Dropout(z, 0.3, training: true, new Random(99));
            var pooled = Functional.Reshape(f, 2, 5);
            var side = Functional.Sum(pooled) - Functional.Mean(residual);
            // 1-D and 3-D convolutions of reshaped views of x, and batch norm in evaluation mode.
            var c1 = Functional.Conv(Functional.Reshape(xx, 2, 2, 36), k1, null, ConvGeometry.Uniform(1, stride: 3));
            var c3 = Functional.Conv(Functional.Reshape(xx, 2, 2, 2, 3, 6), k3, null, ConvGeometry.Uniform(3, padding: 1, dilation: 2));
            var evalBn = Functional.BatchNorm(Functional.Reshape(up, 2, 2, 36), evalGamma, evalBeta, evalMean, evalVar, training: false);
            var loss = Functional.CrossEntropy(z, labels) + side;
            return loss + Functional.Mean(c1 * c1) + Functional.Mean(c3) + Functional.Mean(evalBn * evalBn);
        }

        NnGradCheck.CheckFunction(Graph, leaves, tolerance: 1e-6);
    }

    [Fact]
    public void TensorScope_RecycledBuffers_GiveBitIdenticalTraining()
    {
        float[] Train(bool scoped)
        {
            var rng = new Random(31);
            var model = new Sequential<float>(
                new ResNet<float>(rng, [4, 8, 8], blocks: 1),
                new Dropout<float>(0.2, new Random(32)));
            var sgd = new ConvGrad.Optim.Sgd<float>(model.Parameters(), 0.05, momentum: 0.9);
            var data = new Random(33);
            for (int step = 0; step < 3; step++)
            {
                var x = Tensor<float>.Zeros(4, 1, 12, 12);
                foreach (ref var v in x.Span)
                {
                    v = (float)data.NextDouble();
                }
                int[] labels = [step, 1, 2, 3];
                using (scoped ? TensorScope.Begin() : null)
                {
                    var loss = Functional.CrossEntropy(model.Forward(x), labels);
                    sgd.ZeroGrad();
                    loss.Backward();
                    sgd.Step();
                }
            }
            return model.Parameters().SelectMany(p => p.Value.ToArray()).ToArray();
        }
        Assert.Equal(Train(scoped: false), Train(scoped: true));
    }

    [Fact]
    public void BasicBlockWithProjection_MatchesFiniteDifferences()
    {
        var block = new BasicBlock<double>(2, 4, 2, new Random(21));
        Assert.NotNull(block.Downsample);
        NnGradCheck.Check(() => block, NnGradCheck.Random(new Random(22), 3, 2, 6, 6), tolerance: 1e-5);
    }

    [Fact]
    public void BasicBlockWithIdentity_MatchesFiniteDifferences()
    {
        var block = new BasicBlock<double>(3, 3, 1, new Random(23));
        Assert.Null(block.Downsample);
        NnGradCheck.Check(() => block, NnGradCheck.Random(new Random(24), 2, 3, 5, 5), tolerance: 1e-5);
    }
}
