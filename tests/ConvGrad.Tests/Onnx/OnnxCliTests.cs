using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using static ConvGrad.Tests.Onnx.OnnxTestSupport;

namespace ConvGrad.Tests.Onnx;

/// <summary><c>convgrad export</c> and the CLI's handling of ONNX files.</summary>
public sealed class OnnxCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private string FileIn(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void Export_WritesAModelThatOnnxRuntimeRuns_WithClassNamesAndNormalisation()
    {
        var model = new ResNet<float>(new Random(41), [8, 8, 16], 1);
        RandomiseBatchNorms(model, 42);
        string weights = FileIn("resnet.safetensors");
        SafeTensorsFile.Write(weights, model.State());
        string onnx = FileIn("resnet.onnx");

        var (code, stdout, stderr) = Cli.Run("export", "--onnx", onnx, "--model", weights);
        Assert.True(code == 0, stderr);
        Assert.StartsWith($"wrote {onnx}: opset 17, input [N, 1, 28, 28] (dynamic batch)", stdout, StringComparison.Ordinal);
        Assert.Contains("10 class names", stdout, StringComparison.Ordinal);
        Assert.Contains("not in the graph", stdout, StringComparison.Ordinal);
        var x = Digits(30);
        AssertClose(Forward(model, x), RunOrt(File.ReadAllBytes(onnx), x), 1e-4, "exported by the CLI");
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], OnnxImport.Load(onnx).Metadata.ClassNames!);

        // Baked normalisation and a fixed batch: the graph takes [0, 1] pixels.
        (code, stdout, stderr) = Cli.Run("export", "--onnx", onnx, "--model", weights, "--batch", "30", "--normalization-in-graph", "--opset", "13");
        Assert.True(code == 0, stderr);
        Assert.Contains("also in the graph", stdout, StringComparison.Ordinal);
        AssertClose(Forward(model, x), RunOrt(File.ReadAllBytes(onnx), Digits(30, normalise: false)), 1e-4, "normalisation in the graph");

        // An ONNX file exports again.
        string again = FileIn("again.onnx");
        (code, _, stderr) = Cli.Run("export", "--onnx", again, "--model", onnx);
        Assert.True(code == 0, stderr);
        AssertClose(Forward(model, x), RunOrt(File.ReadAllBytes(again), x), 1e-4, "re-exported");
    }

    [Fact]
    public void Predict_ReadsAnOnnxModel_WithItsMetadata_OrMeanAndStdGivenAsOptions()
    {
        var model = LeNet.Create<float>(new Random(45));
        string weights = FileIn("lenet.safetensors");
        SafeTensorsFile.Write(weights, model.State());
        string idx = Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k", "images-idx3-ubyte.gz");
        var (code, expected, err) = Cli.Run("predict", "--model", weights, "--idx", idx, "--index", "100", "--count", "5");
        Assert.True(code == 0, err);

        // No metadata: predict needs the normalisation as options, then prints what the safetensors model prints.
        string bare = FileIn("bare.onnx");
        OnnxExport.Save(model, bare, new OnnxExportOptions { InputShape = [1, 28, 28] });
        var (bcode, bout, berr) = Cli.Run("predict", "--model", bare, "--idx", idx, "--index", "100", "--count", "5");
        Assert.Equal(2, bcode);
        Assert.Equal("", bout);
        Assert.Contains("--mean and --std", berr, StringComparison.Ordinal);
        (code, var actual, err) = Cli.Run("predict", "--model", bare, "--idx", idx, "--index", "100", "--count", "5", "--mean", "0.1307", "--std", "0.3081");
        Assert.True(code == 0, err);
        Assert.Equal(expected, actual);

        // Metadata: the class names and the normalisation (here in the graph) come from the file.
        string named = FileIn("named.onnx");
        string[] classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
        OnnxExport.Save(model, named, new OnnxExportOptions { InputShape = [1, 28, 28], Metadata = new OnnxMetadata(classes, [MnistMean], [MnistStd], NormalizationInGraph: true) });
        (code, actual, err) = Cli.Run("predict", "--model", named, "--idx", idx, "--index", "100", "--count", "5");
        Assert.True(code == 0, err);
        var lines = actual.TrimEnd().Split('\n');
        var digits = expected.TrimEnd().Split('\n');
        Assert.Equal(6, lines.Length);   // 5 images (true labels from the labels file beside the images) and the accuracy
        Assert.Equal(digits[^1], lines[^1]);
        for (int i = 0; i < 5; i++)
        {
            int d = digits[i][("image 10" + i + ": class ").Length] - '0';
            int t = TestDigits.All.Label(100 + i);
            Assert.StartsWith($"image {100 + i}: class {classes[d]}  true {classes[t]}  probabilities zero:", lines[i], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Export_AndImport_RefuseBadFilesInOneLine_WithExitCode2()
    {
        string truncated = FileIn("truncated.onnx");
        var bytes = OnnxExport.ToBytes(LeNet.Create<float>(new Random(43)), new OnnxExportOptions { InputShape = [1, 28, 28] });
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 3)]);
        string text = FileIn("notes.onnx");
        File.WriteAllText(text, "this is not a model\n");
        foreach (var bad in new[] { truncated, text })
        {
            var (code, stdout, stderr) = Cli.Run("export", "--onnx", FileIn("out.onnx"), "--model", bad);
            Assert.Equal(2, code);
            Assert.Equal("", stdout);
            Assert.Single(stderr.TrimEnd().Split('\n'));
            Assert.Contains("not an ONNX model", stderr, StringComparison.Ordinal);
        }

        var proto = OnnxExport.Build(LeNet.Create<float>(new Random(44)), new OnnxExportOptions { InputShape = [1, 28, 28] });
        proto.Graph.Node.First(n => n.OpType == "MaxPool").OpType = "LpPool";
        string unknown = FileIn("unknown.onnx");
        OnnxExport.Save(proto, unknown);
        var (ucode, _, uerr) = Cli.Run("export", "--onnx", FileIn("out.onnx"), "--model", unknown);
        Assert.Equal(2, ucode);
        Assert.Single(uerr.TrimEnd().Split('\n'));
        Assert.Contains("'LpPool'", uerr, StringComparison.Ordinal);
        Assert.Contains("(node 'MaxPool", uerr, StringComparison.Ordinal);

        Assert.Equal(2, Cli.Run("export", "--model", unknown).Code);
    }
}
