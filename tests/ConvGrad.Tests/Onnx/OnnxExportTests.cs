using ConvGrad.Autograd;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using Microsoft.ML.OnnxRuntime;
using static ConvGrad.Tests.Onnx.OnnxTestSupport;

namespace ConvGrad.Tests.Onnx;

/// <summary>Models exported to ONNX compute in ONNX Runtime what they compute in ConvGrad.</summary>
public class OnnxExportTests
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData(null)]
    [InlineData(250)]
    public void LeNet_LogitsInOnnxRuntime_MatchConvGrad_OnAThousandDigits(int? batch)
    {
        var model = LeNet.Create<float>(new Random(11));
        CheckOnDigits(model, batch, 1000);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(500)]
    public void ResNet_LogitsInOnnxRuntime_MatchConvGrad_OnAThousandDigits(int? batch)
    {
        var model = new ResNet<float>(new Random(12));
        RandomiseBatchNorms(model, 13);
        CheckOnDigits(model, batch, 1000);
    }

    private static void CheckOnDigits(Module<float> model, int? batch, int count)
    {
        var x = Digits(count);
        var expected = Forward(model, x);
        var onnx = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28], BatchSize = batch });
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(onnx, options);
        var dims = session.InputMetadata["input"].Dimensions;
        Assert.Equal(batch ?? -1, dims[0]);
        int step = batch ?? count;
        var actual = new List<float>();
        for (int first = 0; first < count; first += step)
        {
            var part = Tensor<float>.FromArray(x.ReadOnlySpan.Slice(first * 784, step * 784).ToArray(), step, 1, 28, 28);
            actual.AddRange(RunOrt(session, part));
        }
        AssertClose(expected, [.. actual], Tolerance, $"{model.GetType().Name} logits, batch {batch?.ToString() ?? "dynamic"}");
        Assert.Equal(ArgMax(expected, 10), ArgMax([.. actual], 10));
    }

    [Fact]
    public void DynamicBatch_RunsAnyBatchSize()
    {
        var model = LeNet.Create<float>(new Random(14));
        var onnx = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28] });
        foreach (int n in new[] { 1, 3, 17 })
        {
            var x = Digits(n);
            AssertClose(Forward(model, x), RunOrt(onnx, x), Tolerance, $"batch {n}");
        }
    }

    /// <summary>Every convolution geometry the engine has, both transposed and not, and the other modules, in one graph with branches.</summary>
    [Fact]
    public void EveryExportedOperation_MatchesOnnxRuntime()
    {
        var rng = new Random(15);
        var model = new Zoo(rng);
        RandomiseBatchNorms(model, 16);
        var x = NnGradCheck.Random(new Random(17), 2, 4, 11, 10);
        var xf = Tensor<float>.FromArray(x.ReadOnlySpan.ToArray().Select(v => (float)v).ToArray(), 2, 4, 11, 10);
        var expected = Forward(model, xf);
        var onnx = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [4, 11, 10] });
        AssertClose(expected, RunOrt(onnx, xf), Tolerance, "zoo");
        var ops = global::Onnx.ModelProto.Parser.ParseFrom(onnx).Graph.Node.Select(n => n.OpType).ToHashSet();
        foreach (var op in new[] { "Conv", "ConvTranspose", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Sub", "Mul", "Concat", "Flatten", "Reshape", "Gemm", "Dropout" })
        {
            Assert.Contains(op, ops);
        }
    }

    [Fact]
    public void Conv1dAndConv3d_Export()
    {
        var rng = new Random(18);
        var conv1 = new Sequential<float>(
            new Conv1d<float>(3, 6, 3, new ConvGeometry([2], [1], [2], [2], groups: 3), rng),
            new ReLU<float>(),
            new ConvTransposeNd<float>(6, 4, [3], new ConvGeometry([2], [1], [0], [1], groups: 2, outputPadding: [1]), rng),
            new Flatten<float>());
        var x1 = Random(19, 2, 3, 13);
        AssertClose(Forward(conv1, x1), RunOrt(OnnxExport.ToBytes(conv1, new OnnxExportOptions { InputShape = [3, 13] }), x1), Tolerance, "1-D");
        var conv3 = new Sequential<float>(
            new ConvNd<float>(2, 4, [2, 3, 2], new ConvGeometry([1, 2, 1], [0, 1, 1], [1, 0, 0], [1, 1, 2]), rng),
            new ConvTransposeNd<float>(4, 2, [2, 2, 2], ConvGeometry.Uniform(3, stride: 2), rng),
            new Flatten<float>());
        var x3 = Random(20, 1, 2, 5, 6, 7);
        AssertClose(Forward(conv3, x3), RunOrt(OnnxExport.ToBytes(conv3, new OnnxExportOptions { InputShape = [2, 5, 6, 7], BatchSize = 1 }), x3), Tolerance, "3-D");
    }

    [Fact]
    public void Metadata_IsWritten_AndSaysWhetherNormalisationIsInTheGraph()
    {
        var model = LeNet.Create<float>(new Random(21));
        string[] classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
        var meta = new OnnxMetadata(classes, [MnistSetMean], [MnistSetStd]);
        using var plain = new InferenceSession(OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28], Metadata = meta }));
        var map = plain.ModelMetadata.CustomMetadataMap;
        Assert.Equal("[\"zero\",\"one\",\"two\",\"three\",\"four\",\"five\",\"six\",\"seven\",\"eight\",\"nine\"]", map["class_names"]);
        Assert.Equal("false", map["normalization_in_graph"]);
        Assert.Equal(MnistSetMean, System.Text.Json.JsonSerializer.Deserialize<double[]>(map["normalization_mean"])![0]);

        // Baked in: the graph takes [0, 1] pixels and gives the logits of the normalised digits.
        var baked = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28], Metadata = meta with { NormalizationInGraph = true } });
        using var session = new InferenceSession(baked);
        Assert.Equal("true", session.ModelMetadata.CustomMetadataMap["normalization_in_graph"]);
        AssertClose(Forward(model, Digits(50)), RunOrt(session, Digits(50, normalise: false)), Tolerance, "normalisation in the graph");
    }

    [Fact]
    public void AnOperationExportDoesNotCover_IsRefusedByName()
    {
        var model = new WithLogSoftmax(new Random(22));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28] }));
        Assert.Contains("LogSoftmax", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Export_LeavesTheModelInItsMode_AndItsResultsUnchanged()
    {
        var model = LeNet.Create<float>(new Random(23));
        model.Train();
        OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28] });
        Assert.True(model.Training);
        Assert.Throws<ArgumentException>(() => OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [3, 28, 28] }));
    }

    private const double MnistSetMean = ConvGrad.Data.MnistSet.Mean;
    private const double MnistSetStd = ConvGrad.Data.MnistSet.Std;

    private static Tensor<float> Random(int seed, params int[] shape)
    {
        var d = NnGradCheck.Random(new Random(seed), shape);
        return Tensor<float>.FromArray(d.ReadOnlySpan.ToArray().Select(v => (float)v).ToArray(), shape);
    }

    /// <summary>A model with every exported op: strided, padded, dilated, grouped convolutions on two branches, etc.</summary>
    private sealed class Zoo : Module<float>
    {
        private readonly ConvNd<float> _a, _b, _c;
        private readonly ConvTransposeNd<float> _up;
        private readonly BatchNorm2d<float> _bn;
        private readonly Dropout<float> _drop;
        private readonly Linear<float> _fc;

        public Zoo(Random rng)
        {
            _a = RegisterModule("a", new ConvNd<float>(4, 6, [3, 2], new ConvGeometry([2, 1], [1, 0], [0, 2], [1, 2], groups: 2), rng));
            _b = RegisterModule("b", new ConvNd<float>(4, 6, [3, 1], new ConvGeometry([2, 1], [0, 0], [0, 0], [1, 1]), rng, bias: false));
            _c = RegisterModule("c", new ConvNd<float>(12, 12, [3, 3], ConvGeometry.Uniform(2, padding: 1, groups: 12), rng));
            _up = RegisterModule("up", new ConvTransposeNd<float>(12, 4, [3, 3], new ConvGeometry([2, 2], [1, 0], [0, 1], [1, 1], groups: 2, outputPadding: [1, 0]), rng));
            _bn = RegisterModule("bn", new BatchNorm2d<float>(4));
            _drop = RegisterModule("drop", new Dropout<float>(0.3, rng));
            _fc = RegisterModule("fc", new Linear<float>(4 * 6 * 10 + 4, 5, rng));
        }

        public override Variable<float> Forward(Variable<float> x)
        {
            var a = _a.Forward(x);
            var b = _b.Forward(x);
            var ab = Functional.Relu(Functional.Concat(a, b));
            var c = _c.Forward(ab) + ab;
            var up = _bn.Forward(_up.Forward(c));
            var pooled = Functional.MaxPool2d(up, 3, 2, 1) - (Functional.AvgPool2d(up, 3, 2, 1) * Functional.AvgPool2d(up, 3, 2, 1));
            var flat = Functional.Reshape(pooled, pooled.Shape[0], 4, 60);
            var g = Functional.Flatten(Functional.GlobalAvgPool(up));
            var h = Functional.Concat(Functional.Flatten(flat), g);
            return _fc.Forward(_drop.Forward(h));
        }
    }

    private sealed class WithLogSoftmax : Module<float>
    {
        private readonly Sequential<float> _net;

        public WithLogSoftmax(Random rng) => _net = RegisterModule("net", LeNet.Create<float>(rng));

        public override Variable<float> Forward(Variable<float> x) => Functional.LogSoftmax(_net.Forward(x));
    }
}
