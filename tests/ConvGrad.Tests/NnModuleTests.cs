using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>Every module's backward pass against central finite differences in float64.</summary>
public class NnModuleTests
{
    private static Tensor<double> X(int seed, params int[] shape) => NnGradCheck.Random(new Random(seed), shape);

    [Fact]
    public void Conv2d_StrideAsymmetricPaddingDilationGroups_MatchesFiniteDifferences()
    {
        var g = new ConvGeometry([2, 1], [1, 0], [0, 2], [1, 2], groups: 2);
        var m = new ConvNd<double>(4, 6, [3, 2], g, new Random(1));
        NnGradCheck.Check(() => m, X(2, 2, 4, 7, 6));
    }

    [Fact]
    public void Conv1d_Strided_MatchesFiniteDifferences()
    {
        var m = new Conv1d<double>(3, 4, 3, ConvGeometry.Uniform(1, stride: 2, padding: 1), new Random(3));
        NnGradCheck.Check(() => m, X(4, 2, 3, 9));
    }

    [Fact]
    public void Conv3d_Dilated_NoBias_MatchesFiniteDifferences()
    {
        var m = new Conv3d<double>(2, 3, 2, ConvGeometry.Uniform(3, padding: 1, dilation: 2), new Random(5), bias: false);
        Assert.Single(m.Parameters());
        NnGradCheck.Check(() => m, X(6, 1, 2, 4, 4, 3));
    }

    [Fact]
    public void ConvTranspose2d_StrideOutputPaddingGroups_MatchesFiniteDifferences()
    {
        var g = new ConvGeometry([2, 2], [1, 0], [0, 1], [1, 1], groups: 2, outputPadding: [1, 0]);
        var m = new ConvTranspose2d<double>(4, 2, 3, g, new Random(7));
        Assert.Equal(new[] { 4, 1, 3, 3 }, m.Weight.Value.Shape.ToArray());
        NnGradCheck.Check(() => m, X(8, 2, 4, 3, 4));
    }

    [Fact]
    public void Linear_MatchesFiniteDifferences()
    {
        var m = new Linear<double>(7, 5, new Random(9));
        NnGradCheck.Check(() => m, X(10, 3, 7));
    }

    [Fact]
    public void Linear_SplitOverThreads_GivesBitIdenticalOutputsAndGradients()
    {
        Tensor<float> Rand(int seed, params int[] shape)
        {
            var r = new Random(seed);
            var t = Tensor<float>.Zeros(shape);
            foreach (ref var v in t.Span)
            {
                v = (float)(2 * r.NextDouble() - 1);
            }
            return t;
        }
        var results = new List<float[]>();
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var m = new Linear<float>(300, 70, new Random(1), options: new ConvOptions { Threads = threads });
            var x = new Variable<float>(Rand(2, 33, 300), requiresGrad: true);
            var yv = m.Forward(x);
            var y = yv.Value.ToArray();
            yv.Backward(Rand(3, 33, 70));
            results.Add([.. y, .. x.Grad!.ToArray(), .. m.Weight.Grad!.ToArray(), .. m.Bias!.Grad!.ToArray()]);
        }
        Assert.Equal(results[0], results[1]);
        Assert.Equal(results[0], results[2]);
    }

    [Theory]
    [InlineData(3, 7, 5)]
    [InlineData(64, 1600, 128)]
    [InlineData(13, 37, 29)]
    public void Linear_Float32OnSgemm_MatchesFloat64(int n, int inF, int outF)
    {
        var m64 = new Linear<double>(inF, outF, new Random(4));
        var m32 = new Linear<float>(inF, outF, new Random(4), options: new ConvOptions { Threads = 2 });
        X(5, outF).Span.CopyTo(m64.Bias!.Value.Span);
        for (int i = 0; i < outF; i++)
        {
            m32.Bias!.Value.Span[i] = (float)m64.Bias.Value.Span[i];
        }
        var x64 = new Variable<double>(X(6, n, inF), requiresGrad: true);
        var x32 = new Variable<float>(Tensor<float>.FromArray(x64.Value.ToArray().Select(v => (float)v).ToArray(), n, inF), requiresGrad: true);
        var dy = X(7, n, outF);
        var y64 = m64.Forward(x64);
        var y32 = m32.Forward(x32);
        y64.Backward(dy);
        y32.Backward(Tensor<float>.FromArray(dy.ToArray().Select(v => (float)v).ToArray(), n, outF));
        void Same(Tensor<double> a, Tensor<float> b, string what)
        {
            var ea = a.ToArray();
            var eb = b.ToArray();
            double scale = 1 + ea.Max(Math.Abs);
            for (int i = 0; i < ea.Length; i++)
            {
                Assert.True(Math.Abs(ea[i] - eb[i]) <= 1e-5 * scale * Math.Sqrt(inF + n), $"{what}[{i}]: float64 {ea[i]}, float32 {eb[i]}");
            }
        }
        Same(y64.Value, y32.Value, "y");
        Same(x64.Grad!, x32.Grad!, "dx");
        Same(m64.Weight.Grad!, m32.Weight.Grad!, "dW");
        Same(m64.Bias.Grad!, m32.Bias!.Grad!, "db");
    }

    [Fact]
    public void ReLU_AwayFromZero_MatchesFiniteDifferences()
    {
        var x = X(11, 2, 3, 4);
        foreach (ref var v in x.Span)
        {
            v += v >= 0 ? 0.1 : -0.1; // finite differences need |x| > h
        }
        NnGradCheck.Check(() => new ReLU<double>(), x);
    }

    [Fact]
    public void MaxPool2d_OverlappingPaddedWindows_MatchesFiniteDifferences()
    {
        // Distinct values (a shuffled ramp): every window has a unique maximum, so L is differentiable.
        var x = Tensor<double>.Zeros(2, 2, 5, 6);
        var values = Enumerable.Range(0, (int)x.Length).Select(i => i * 0.01).ToArray();
        new Random(12).Shuffle(values);
        values.CopyTo(x.Span);
        var m = new MaxPool2d<double>(3, stride: 2, padding: 1);
        NnGradCheck.Check(() => m, x);
    }

    [Fact]
    public void MaxPool2d_Ties_RouteTheWholeGradientToTheFirstMaximumInRowMajorOrder()
    {
        // One 2x2 window of equal values, one window whose max appears at (1,0) and (1,1).
        double[] plane = [5, 5, 1, 2,
                          5, 5, 3, 3];
        var x = Tensor<double>.FromArray(plane, 1, 1, 2, 4);
        var xv = new Variable<double>(x, requiresGrad: true);
        var y = new MaxPool2d<double>(2).Forward(xv);
        Assert.Equal(new[] { 5.0, 3.0 }, y.Value.ToArray());
        y.Backward(Tensor<double>.FromArray([10.0, 20.0], 1, 1, 1, 2));
        Assert.Equal(new[] { 10.0, 0, 0, 0, 0, 0, 20, 0 }, xv.Grad!.ToArray());
    }

    [Fact]
    public void MaxPool2d_OverlappingWindows_AccumulateGradientOnASharedMaximum()
    {
        var x = Tensor<double>.FromArray([0.0, 0, 0, 0, 9, 0, 0, 0, 0], 1, 1, 3, 3);
        var xv = new Variable<double>(x, requiresGrad: true);
        new MaxPool2d<double>(2, stride: 1).Forward(xv).Backward(Tensor<double>.FromArray([1.0, 2, 3, 4], 1, 1, 2, 2));
        var dx = xv.Grad!;
        Assert.Equal(10.0, dx[0, 0, 1, 1]);
        Assert.Equal(10.0, dx.ToArray().Sum());
    }

    [Fact]
    public void AvgPool2d_PaddedStrided_MatchesFiniteDifferences() =>
        NnGradCheck.Check(() => new AvgPool2d<double>(3, stride: 2, padding: 1), X(13, 2, 2, 5, 6));

    [Fact]
    public void BatchNorm2d_TrainMode_MatchesFiniteDifferences()
    {
        var m = new BatchNorm2d<double>(3);
        X(14, 3).Span.CopyTo(m.Weight.Value.Span);
        X(15, 3).Span.CopyTo(m.Bias.Value.Span);
        NnGradCheck.Check(() => m, X(16, 4, 3, 3, 2));
    }

    [Fact]
    public void BatchNorm2d_EvalMode_MatchesFiniteDifferences()
    {
        var m = new BatchNorm2d<double>(3);
        m.Forward(X(17, 4, 3, 3, 2)); // moves the running statistics away from 0 and 1
        m.SetTraining(false);
        NnGradCheck.Check(() => m, X(18, 2, 3, 3, 2));
    }

    [Fact]
    public void BatchNorm2d_TrainMode_NormalisesPerChannelAndTracksUnbiasedRunningStatistics()
    {
        var m = new BatchNorm2d<double>(2);
        var x = X(19, 3, 2, 2, 2);
        var y = m.Forward(x).Value;
        for (int c = 0; c < 2; c++)
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int n = 0; n < 3; n++)
            for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
            {
                xs.Add(x[n, c, i, j]);
                ys.Add(y[n, c, i, j]);
            }
            double mean = xs.Average();
            double unbiased = xs.Sum(v => (v - mean) * (v - mean)) / (xs.Count - 1);
            Assert.Equal(0, ys.Average(), 12);
            Assert.Equal(1, ys.Sum(v => v * v) / ys.Count, 4); // biased variance of x̂ is var/(var+eps)
            Assert.Equal(0.1 * mean, m.RunningMean[c], 12);
            Assert.Equal(0.9 + 0.1 * unbiased, m.RunningVar[c], 12);
        }
        Assert.Equal(1, m.NumBatchesTracked);
    }

    [Fact]
    public void Dropout_TrainMode_MatchesFiniteDifferencesWithAFixedMask()
    {
        NnGradCheck.Check(() => new Dropout<double>(0.4, new Random(20)), X(21, 4, 10));
    }

    [Fact]
    public void Dropout_ZeroesAboutPAndScalesTheRest_AndIsIdentityInEval()
    {
        var m = new Dropout<double>(0.25, new Random(22));
        var x = Tensor<double>.Zeros(10_000);
        x.Fill(1);
        var y = m.Forward(x).Value.ToArray();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-15));
        Assert.InRange(y.Count(v => v == 0) / 10_000.0, 0.22, 0.28);
        m.SetTraining(false);
        var xv = new Variable<double>(x);
        Assert.Same(xv, m.Forward(xv));
    }

    [Fact]
    public void Sequential_WithEveryLayerKind_MatchesFiniteDifferences()
    {
        var rng = new Random(23);
        var m = new Sequential<double>(
            new Conv2d<double>(2, 4, 3, ConvGeometry.Uniform(2, padding: 1), rng),
            new BatchNorm2d<double>(4),
            new ReLU<double>(),
            new MaxPool2d<double>(2),
            new AvgPool2d<double>(2, stride: 1),
            new Flatten<double>(),
            new Linear<double>(4 * 2 * 2, 3, rng));
        Assert.Equal(
            ["0.weight", "0.bias", "1.weight", "1.bias", "6.weight", "6.bias"],
            m.NamedParameters().Select(p => p.Name));
        NnGradCheck.Check(() => m, X(24, 3, 2, 6, 6), tolerance: 1e-5);
    }

    [Fact]
    public void CrossEntropy_GradientMatchesFiniteDifferences()
    {
        int[] labels = [0, 3, 4, 1];
        NnGradCheck.CheckFunction(v => Functional.CrossEntropy(v[0], labels), [new Variable<double>(X(25, 4, 5), requiresGrad: true)], 1e-8);
    }

    [Fact]
    public void CrossEntropy_IsStableForHugeLogits_AndRejectsBadLabels()
    {
        var z = new Variable<double>(Tensor<double>.FromArray([1000.0, 0, -1000, 1000], 2, 2));
        double loss = Functional.CrossEntropy(z, [0, 0]).Item();
        // Row 0 (label 0 is the max): log(1 + e^-1000) = 0. Row 1: log(e^-1000 + e^1000) + 1000 = 2000. Mean 1000.
        Assert.Equal(1000.0, loss, 9);
        var e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(z, [0, 2]));
        Assert.Contains("label 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Modules_RejectWrongInputShapes_NamingTheShape()
    {
        var conv = new Conv2d<float>(3, 4, 3, ConvGeometry.Valid(2), new Random(1));
        var e = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor<float>.Zeros(1, 2, 5, 5)));
        Assert.Contains("[1, 2, 5, 5]", e.Message, StringComparison.Ordinal);
        var lin = new Linear<float>(4, 2, new Random(1));
        Assert.Throws<ArgumentException>(() => lin.Forward(Tensor<float>.Zeros(2, 5)));
        Assert.Throws<ArgumentException>(() => new MaxPool2d<float>(2, padding: 2));
    }
}
