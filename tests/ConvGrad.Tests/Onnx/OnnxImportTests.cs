using System.Diagnostics;
using System.Runtime.InteropServices;
using ConvGrad.Autograd;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using ConvGrad.Optim;
using static ConvGrad.Tests.Onnx.OnnxTestSupport;

namespace ConvGrad.Tests.Onnx;

/// <summary>
/// Runs tests/interop/onnx_from_torch.py once: PyTorch exports LeNet, a ResNet and a branchy net at operator sets 13-17
/// (fixed and dynamic batch) with its own class probabilities for the first 256 bundled digits.
/// </summary>
public sealed class TorchExports : IDisposable
{
    public const int Images = 256;

    public TorchExports()
    {
        Problem = FindTorch();
        if (Problem is not null)
        {
            return;
        }
        Directory.CreateDirectory(Dir);
        string images = Path.Combine(Dir, "digits.f32");
        File.WriteAllBytes(images, MemoryMarshal.AsBytes(Digits(Images).ReadOnlySpan).ToArray());
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(TestPaths.RepoRoot, "tests", "interop", "onnx_from_torch.py"), images, Dir })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(600_000) || p.ExitCode != 0)
        {
            throw new InvalidOperationException($"onnx_from_torch.py failed: {stderr.Result}");
        }
    }

    /// <summary>Null when PyTorch ran, else why the tests skip.</summary>
    public string? Problem { get; }

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"convgrad-onnx-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(Dir))
        {
            Directory.Delete(Dir, recursive: true);
        }
    }

    private static string? FindTorch()
    {
        if (!File.Exists("/usr/bin/python3"))
        {
            return "needs /usr/bin/python3 with python3-torch (Debian); .ci/run installs it";
        }
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", "import torch"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        p.StandardError.ReadToEnd();
        return p.WaitForExit(120_000) && p.ExitCode == 0 ? null : "needs python3-torch (Debian) for /usr/bin/python3; .ci/run installs it";
    }
}

/// <summary>ONNX models, from PyTorch and from ConvGrad's own export, load into the library's modules and compute the same.</summary>
public class OnnxImportTests(TorchExports torch) : IClassFixture<TorchExports>
{
    public static TheoryData<string> TorchModels()
    {
        var data = new TheoryData<string>();
        foreach (var model in new[] { "lenet", "resnet", "branches" })
        {
            for (int opset = 13; opset <= 17; opset++)
            {
                data.Add($"{model}-opset{opset}-fixed");
                data.Add($"{model}-opset{opset}-dynamic");
            }
        }
        foreach (var stem in new[] { "resnet-unfolded-opset13-fixed", "resnet-unfolded-opset13-dynamic", "resnet-unfolded-opset17-fixed", "resnet-unfolded-opset17-dynamic" })
        {
            data.Add(stem);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(TorchModels))]
    public void PyTorchExport_PredictsTheSameClasses_WithProbabilitiesWithin1e4(string stem)
    {
        Skip.If(torch.Problem is not null, torch.Problem);
        var model = OnnxImport.Load(Path.Combine(torch.Dir, stem + ".onnx"));
        Assert.Equal([1, 28, 28], model.InputShape);
        Assert.Equal(stem.EndsWith("dynamic", StringComparison.Ordinal) ? null : 4, model.BatchSize);
        var expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(torch.Dir, stem + ".probs"))).ToArray();
        // A fixed-batch graph's modules take any batch: all 256 digits at once.
        var logits = Tensor<float>.FromArray(Forward(model.Module, Digits(TorchExports.Images)), TorchExports.Images, 10);
        var p = CrossEntropy.Softmax(logits);
        var probs = new float[p.Length];
        for (int i = 0; i < TorchExports.Images; i++)
        {
            for (int j = 0; j < 10; j++)
            {
                probs[i * 10 + j] = (float)p[i, j];
            }
        }
        Assert.Equal(ArgMax(expected, 10), ArgMax(probs, 10));
        AssertClose(expected, probs, 1e-4, stem);
    }

    [SkippableFact]
    public void PyTorchFlattenByView_AndFoldedPadding_BecomeLibraryModules()
    {
        Skip.If(torch.Problem is not null, torch.Problem);
        var model = OnnxImport.Load(Path.Combine(torch.Dir, "branches-opset17-dynamic.onnx")).Module;
        var modules = model.Nodes.Select(n => n.Module.GetType().Name).ToList();
        Assert.Contains("Reshape`1", modules);
        Assert.Contains("AvgPool2d`1", modules);
        Assert.Contains("Concat`1", modules);
        Assert.Contains("Add`1", modules);
        Assert.Contains("BatchNorm2d`1", modules);
        Assert.DoesNotContain(model.Nodes, n => n.Name.Contains("Shape", StringComparison.Ordinal) || n.Name.Contains("Gather", StringComparison.Ordinal));
    }

    [Fact]
    public void ConvGradExport_ImportsBack_ToTheSameFunction()
    {
        var rng = new Random(31);
        var resnet = new ResNet<float>(rng, [8, 16, 16], 1);
        RandomiseBatchNorms(resnet, 32);
        var net = new Sequential<float>(
            new Conv2d<float>(1, 6, 3, new ConvGeometry([2, 1], [1, 0], [0, 2], [1, 2], groups: 1), rng),
            new ReLU<float>(),
            new ConvTranspose2d<float>(6, 4, 3, new ConvGeometry([2, 2], [1, 1], [1, 1], [1, 1], groups: 2, outputPadding: [1, 1]), rng),
            new AvgPool2d<float>(3, 2, 1),
            new MaxPool2d<float>(2),
            new Flatten<float>(),
            new Dropout<float>(0.4, rng),
            new Linear<float>(4 * 7 * 13, 10, rng));
        var x = Digits(20);
        foreach (var model in new Module<float>[] { resnet, net })
        {
            var bytes = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28] });
            var back = OnnxImport.Read(bytes);
            AssertClose(Forward(model, x), Forward(back.Module, x), 1e-5, model.GetType().Name);
            Assert.Equal(model.Parameters().Sum(p => p.Value.Length), back.Module.Parameters().Sum(p => p.Value.Length));
        }
    }

    [Fact]
    public void NormalisationInTheGraph_IsReadBackIntoTheMetadata()
    {
        var model = LeNet.Create<float>(new Random(33));
        var meta = new OnnxMetadata(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], [0.25], [0.5], NormalizationInGraph: true);
        var back = OnnxImport.Read(OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28], Metadata = meta }));
        Assert.Equal(meta.ClassNames, back.Metadata.ClassNames);
        Assert.Equal([0.25], back.Metadata.Mean!);
        Assert.Equal([0.5], back.Metadata.Std!);
        Assert.False(back.Metadata.NormalizationInGraph);
        var x = Digits(10);
        AssertClose(Forward(model, x), Forward(back.Module, x), 1e-5, "module without the normalisation");
    }

    [Fact]
    public void AnImportedModel_FineTunes_AndExportsAgain()
    {
        var source = LeNet.Create<float>(new Random(34));
        var model = OnnxImport.Read(OnnxExport.ToBytes(source, new OnnxExportOptions { InputShape = [1, 28, 28] })).Module;
        var labels = ConvGrad.Data.IdxFile.Read(Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k", "labels-idx1-ubyte.gz")).Data;
        var x = Digits(64);
        var y = labels.Take(64).Select(l => (int)l).ToArray();
        model.Train();
        var sgd = new Sgd<float>(model.Parameters(), lr: 0.05, momentum: 0.9);
        double first = 0, last = 0;
        for (int step = 0; step < 8; step++)
        {
            model.ZeroGrad();
            var loss = Functional.CrossEntropy(model.Forward(x), y);
            loss.Backward();
            sgd.Step();
            last = loss.Value.Span[0];
            first = step == 0 ? last : first;
        }
        Assert.True(last < first, $"loss went from {first} to {last}");
        var again = OnnxExport.ToBytes(model, new OnnxExportOptions { InputShape = [1, 28, 28] });
        AssertClose(Forward(model, x), RunOrt(again, x), 1e-4, "fine-tuned, exported again");
    }

    [SkippableFact]
    public void APyTorchExport_FineTunesWithTrainInitFrom_AndTheResultExportsAgain()
    {
        Skip.If(torch.Problem is not null, torch.Problem);
        var dir = Cli.TempDir();
        try
        {
            string source = Path.Combine(torch.Dir, "lenet-opset17-dynamic.onnx"), outDir = Path.Combine(dir.FullName, "out");
            var (code, stdout, stderr) = Cli.Run("train", "--init-from", source, "--epochs", "1", "--train-limit", "256", "--threads", "1", "--lr", "0.02", "--out", outDir);
            Assert.True(code == 0, stderr);
            Assert.Contains($"model: the module graph of {source}", stdout, StringComparison.Ordinal);
            string graph = Path.Combine(outDir, "graph.onnx");
            var tuned = OnnxImport.Load(graph);
            // PyTorch's file has no metadata; the fine-tune's carries the data's classes and normalisation.
            Assert.Equal(10, tuned.Metadata.ClassNames!.Count);
            Assert.True(tuned.Metadata.HasNormalization);
            var x = Digits(64);
            var ours = Forward(tuned.Module, x);
            AssertClose(ours, RunOrt(File.ReadAllBytes(graph), x), 1e-4, "fine-tuned PyTorch LeNet in ONNX Runtime");
            Assert.NotEqual(Forward(OnnxImport.Load(source).Module, x), ours);
            string again = Path.Combine(dir.FullName, "again.onnx");
            var (ecode, _, eerr) = Cli.Run("export", "--onnx", again, "--model", graph);
            Assert.True(ecode == 0, eerr);
            AssertClose(ours, RunOrt(File.ReadAllBytes(again), x), 1e-4, "exported again");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void AnUnknownOperator_IsRefusedInOneLine_NamingItAndItsNode()
    {
        var proto = OnnxExport.Build(LeNet.Create<float>(new Random(35)), new OnnxExportOptions { InputShape = [1, 28, 28] });
        var relu = proto.Graph.Node.First(n => n.OpType == "Relu");
        relu.OpType = "Softplus";
        var e = Assert.Throws<NotSupportedException>(() => OnnxImport.Read(Google.Protobuf.MessageExtensions.ToByteArray(proto)));
        Assert.Contains("'Softplus'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{relu.Name}'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATruncatedOrNonOnnxFile_IsRefusedInOneLine()
    {
        var bytes = OnnxExport.ToBytes(LeNet.Create<float>(new Random(36)), new OnnxExportOptions { InputShape = [1, 28, 28] });
        foreach (var bad in new[] { bytes[..(bytes.Length / 2)], bytes[..100], "hello, this is not a model\n"u8.ToArray(), File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "LICENSE")), [] })
        {
            var e = Assert.Throws<InvalidDataException>(() => OnnxImport.Read(bad));
            Assert.Contains("not an ONNX model", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("\n", e.Message, StringComparison.Ordinal);
        }
    }
}
