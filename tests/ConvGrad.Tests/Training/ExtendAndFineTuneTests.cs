using System.Globalization;
using System.Security.Cryptography;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using ConvGrad.Training;
using static ConvGrad.Tests.Onnx.OnnxTestSupport;

namespace ConvGrad.Tests.Training;

/// <summary>
/// <c>convgrad train --resume --epochs N</c> extends a run by a new one-cycle (and an extension stopped and resumed ends
/// bitwise as an uninterrupted one); <c>--init-from</c> fine-tunes from a safetensors classifier or an ONNX model (a
/// module graph, saved as ONNX again), and refuses in one line a model that does not fit. Small runs: LeNet, 512
/// digits, batch 64 (8 steps an epoch), 1 thread.
/// </summary>
public sealed class ExtendAndFineTuneTests : IDisposable
{
    private static readonly string[] Recipe = ["--train-limit", "512", "--threads", "1", "--lr", "0.02"];

    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    private static (int Code, string Out, string Err) Train(string outDir, params string[] extra) =>
        Cli.Run(["train", .. Recipe, "--out", outDir, .. extra]);

    private static void Ok((int Code, string Out, string Err) r) => Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");

    private static void OneLineExit2((int Code, string Out, string Err) r, params string[] parts)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Out}{r.Err}");
        Assert.Single(r.Err.TrimEnd().Split('\n'));
        Assert.All(parts, p => Assert.Contains(p, r.Err, StringComparison.Ordinal));
    }

    private static string Digest(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    private static string[] LossLines(string outDir) => File.ReadAllLines(Path.Combine(outDir, "losses.csv"));

    /// <summary>training.csv without its seconds column (the only thing that may differ between equal runs).</summary>
    private static string[] Epochs(string outDir) =>
        [.. File.ReadAllLines(Path.Combine(outDir, "training.csv")).Select(l => l[..l.LastIndexOf(',')])];

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
        {
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
    }

    [Fact]
    public void Extending_AFinishedRun_AddsAOneCycle_AStoppedExtensionResumesBitwise_AndOnlyEpochsMayGrow()
    {
        Ok(Train(Out("a"), "--model", "lenet", "--epochs", "1"));
        var firstEpoch = LossLines(Out("a"));
        CopyFolder(Out("a"), Out("b"));

        // Uninterrupted extension 1 -> 3: the first epoch's history stays, a new one-cycle covers epochs 2-3.
        var whole = Train(Out("a"), "--model", "lenet", "--epochs", "3", "--resume");
        Ok(whole);
        Assert.Contains("resuming from", whole.Out, StringComparison.Ordinal);
        Assert.Contains("schedule: one-cycle over epoch 1, then over epochs 2-3", whole.Out, StringComparison.Ordinal);
        Assert.Contains("epoch 3/3", whole.Out, StringComparison.Ordinal);
        Assert.Equal(firstEpoch, LossLines(Out("a"))[..firstEpoch.Length]);
        Assert.Equal(1 + 3 * 8, LossLines(Out("a")).Length);

        // The same extension stopped after epoch 2 (the kill of a job) and resumed with the same options.
        var stopped = Train(Out("b"), "--model", "lenet", "--epochs", "3", "--resume", "--stop-after-epoch", "2");
        Ok(stopped);
        Assert.Contains("stopped after epoch 2", stopped.Out, StringComparison.Ordinal);
        // --profile changes no result, and a resumed (extended) run keeps it: the table covers epoch 3's 8 steps.
        var resumed = Train(Out("b"), "--model", "lenet", "--epochs", "3", "--resume", "--profile");
        Ok(resumed);
        Assert.Contains("schedule: one-cycle over epoch 1, then over epochs 2-3", resumed.Out, StringComparison.Ordinal);
        Assert.Contains("profile: lenet, batch 64, 1 threads, 8 steps", resumed.Out, StringComparison.Ordinal);
        Assert.Equal(Digest(Path.Combine(Out("a"), "lenet.safetensors")), Digest(Path.Combine(Out("b"), "lenet.safetensors")));
        Assert.Equal(LossLines(Out("a")), LossLines(Out("b")));
        Assert.Equal(Epochs(Out("a")), Epochs(Out("b")));
        Assert.Equal(whole.Out.TrimEnd().Split('\n')[^1], resumed.Out.TrimEnd().Split('\n')[^1]);

        // A run is never shortened, and an extension does not hide another change: each is named with both values.
        var before = Directory.GetFiles(Out("a")).ToDictionary(f => f, Digest);
        OneLineExit2(Train(Out("a"), "--model", "lenet", "--epochs", "2", "--resume"), "epochs 3 → 2", "not shortened");
        var other = Train(Out("a"), "--model", "lenet", "--epochs", "5", "--resume", "--batch-size", "32", "--dropout", "0.5");
        OneLineExit2(other, "(batch-size 64 → 32, dropout 0.25 → 0.5)");
        Assert.DoesNotContain("epochs 3 → 5", other.Err, StringComparison.Ordinal);
        Assert.All(before, kv => Assert.Equal(kv.Value, Digest(kv.Key)));
    }

    [Fact]
    public void FineTuning_FromSafetensors_StartsFromItsWeights_AndRefusesAModelThatDoesNotFit_InOneLine()
    {
        Ok(Train(Out("src"), "--model", "lenet", "--epochs", "1"));
        string source = Path.Combine(Out("src"), "lenet.safetensors");

        // No --model: the file's architecture. A fresh one-cycle over the fine-tune's own epoch.
        var ft = Train(Out("ft"), "--init-from", source, "--epochs", "1");
        Ok(ft);
        Assert.Contains($"fine-tuning from {source}", ft.Out, StringComparison.Ordinal);
        Assert.Contains("model: LeNet-style CNN", ft.Out, StringComparison.Ordinal);
        Assert.Equal(1 + 8, LossLines(Out("ft")).Length);
        // Started from the trained weights: its first loss is below a fresh run's (ln 10 ≈ 2.30 at the start).
        double First(string dir) => double.Parse(LossLines(dir)[1].Split(',')[1], CultureInfo.InvariantCulture);
        Assert.True(First(Out("ft")) < First(Out("src")) - 0.05, $"first loss {First(Out("ft"))} vs a fresh run's {First(Out("src"))}");

        // Resuming the fine-tune without --init-from is another run, and says so.
        OneLineExit2(Train(Out("ft"), "--model", "lenet", "--epochs", "1", "--resume"), $"init-from {source} → none");

        // Models that do not fit: another architecture, other classes, another input shape; no file; not a model.
        OneLineExit2(Train(Out("x"), "--init-from", source, "--model", "resnet", "--epochs", "1"),
            "holds a lenet for 1x28x28 images and 10 classes", "expected a resnet for 1x28x28 images and 10 classes");
        string five = Path.Combine(_dir.FullName, "five.safetensors");
        Classifier.Save(five, LeNet.Create<float>(new Random(1), classes: 5), new ClassifierInfo("lenet", new ImageShape(1, 28, 28), ["a", "b", "c", "d", "e"], Normalization.Mnist));
        OneLineExit2(Train(Out("x"), "--init-from", five, "--epochs", "1"), "holds a lenet for 1x28x28 images and 5 classes (a, b, c, d, e)", "expected a lenet for 1x28x28 images and 10 classes");
        string big = Path.Combine(_dir.FullName, "big.safetensors");
        Classifier.Save(big, LeNet.Create<float>(new Random(1), height: 32, width: 32), ClassifierInfo.Digits("lenet") with { InputShape = new ImageShape(1, 32, 32) });
        OneLineExit2(Train(Out("x"), "--init-from", big, "--epochs", "1"), "holds a lenet for 1x32x32 images", "expected a lenet for 1x28x28 images");
        OneLineExit2(Train(Out("x"), "--init-from", Path.Combine(_dir.FullName, "none.safetensors"), "--epochs", "1"), "no such model file");
        string text = Path.Combine(_dir.FullName, "notes.safetensors");
        File.WriteAllText(text, "not a model");
        OneLineExit2(Train(Out("x"), "--init-from", text, "--epochs", "1"), text);
        Assert.False(Directory.Exists(Out("x")) && Directory.GetFiles(Out("x")).Length > 0);
    }

    [Fact]
    public void FineTuning_FromConvGradsOwnOnnx_TrainsTheGraph_AsFromSafetensors_ResumesBitwise_AndExportsAgain()
    {
        Ok(Train(Out("src"), "--model", "lenet", "--epochs", "1"));
        string safetensors = Path.Combine(Out("src"), "lenet.safetensors"), onnx = Path.Combine(Out("src"), "lenet.onnx");
        Ok(Cli.Run("export", "--onnx", onnx, "--model", safetensors));

        Ok(Train(Out("st"), "--init-from", safetensors, "--epochs", "2"));
        Ok(Train(Out("whole"), "--init-from", onnx, "--epochs", "2"));
        var stopped = Train(Out("graph"), "--init-from", onnx, "--epochs", "2", "--stop-after-epoch", "1");
        Ok(stopped);
        Assert.Contains($"model: the module graph of {onnx}", stopped.Out, StringComparison.Ordinal);
        var resumed = Train(Out("graph"), "--init-from", onnx, "--epochs", "2", "--resume");
        Ok(resumed);
        // A graph run resumes bitwise (its checkpoint holds the graph's weights under the node names).
        Assert.Equal(LossLines(Out("whole")), LossLines(Out("graph")));
        Assert.Equal(Digest(Path.Combine(Out("whole"), "graph.onnx")), Digest(Path.Combine(Out("graph"), "graph.onnx")));
        // The imported graph computes what the LeNet computes: its steps follow the LeNet fine-tune's (bitwise for the
        // first epoch as measured, ~1e-7 apart in the second: the graph's layers may round differently, so a tolerance).
        static double[] Losses(string dir) => [.. LossLines(dir).Skip(1).Select(l => double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture))];
        double[] st = Losses(Out("st")), graphLosses = Losses(Out("whole"));
        Assert.Equal(16, st.Length);
        Assert.All(st.Select((l, i) => (Lenet: l, Graph: graphLosses[i])), p => Assert.Equal(p.Lenet, p.Graph, 1e-5));
        string graph = Path.Combine(Out("graph"), "graph.onnx");
        Assert.True(File.Exists(graph));
        Assert.False(File.Exists(Path.Combine(Out("graph"), "graph.safetensors")));
        OneLineExit2(Train(Out("y"), "--init-from", onnx, "--model", "lenet", "--epochs", "1"), "leave --model out");

        // The fine-tuned model in ConvGrad (the import with the checkpoint's weights) and graph.onnx in ONNX Runtime agree.
        var tuned = OnnxImport.Load(onnx).Module;
        tuned.LoadState(Checkpoint.Load(Out("graph"), TrainingRun.CheckpointName(InitialModel.GraphArchitecture), tuned.State()).ModelState);
        var x = Digits(256);
        var expected = Forward(tuned, x);
        var saved = OnnxImport.Load(graph);
        Assert.Equal(Enumerable.Range(0, 10).Select(d => d.ToString(CultureInfo.InvariantCulture)), saved.Metadata.ClassNames!);
        Assert.Equal([MnistMean], saved.Metadata.Mean!);
        AssertClose(expected, RunOrt(File.ReadAllBytes(graph), x), 1e-4, "graph.onnx in ONNX Runtime");
        Assert.Equal(ArgMax(expected, 10), ArgMax(RunOrt(File.ReadAllBytes(graph), x), 10));
        Assert.NotEqual(Forward(OnnxImport.Load(onnx).Module, x), expected);

        // And it leaves again: export and predict take it.
        string again = Path.Combine(_dir.FullName, "again.onnx");
        Ok(Cli.Run("export", "--onnx", again, "--model", graph));
        AssertClose(expected, RunOrt(File.ReadAllBytes(again), x), 1e-4, "exported again");
        var predict = Cli.Run("predict", "--model", graph, "--idx", Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k", "images-idx3-ubyte.gz"), "--count", "3");
        Ok(predict);
        Assert.StartsWith("image 0: class ", predict.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInitialModel_GivesTheRunItsWeights_WithAFreshOptimiserAndSchedule()
    {
        string path = Path.Combine(_dir.FullName, "lenet.safetensors");
        var source = LeNet.Create<float>(new Random(5));
        Classifier.Save(path, source, ClassifierInfo.Digits("lenet"));
        var split = IdxFolder.Load(Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k"));
        var data = new TrainingData(split.Train.Slice(0, 128), split.Test, split.TrainingNormalization());
        var initial = InitialModel.Load(path);
        Assert.Equal(("lenet", new ImageShape(1, 28, 28), 10), (initial.Architecture, initial.InputShape, initial.Classes));

        using var run = new TrainingRun(new TrainingConfig { Model = "lenet", Epochs = 2, InitFrom = path }, data, initial: initial);
        Assert.Equal(source.State().Select(t => t.Data), run.Model.State().Select(t => t.Data));
        Assert.All(run.Optimizer.State().Where(t => t.DType == SafeTensorDType.F32), t => Assert.All(t.Data, b => Assert.Equal(0, b)));
        Assert.Equal([2], run.Cycles);
        Assert.Equal(Normalization.Mnist, run.Data.Normalization);

        // The config must name the file it starts from, and a model needs a file.
        Assert.Throws<ArgumentException>(() => new TrainingRun(new TrainingConfig { Model = "lenet" }, data, initial: initial));
        Assert.Throws<ArgumentException>(() => new TrainingRun(new TrainingConfig { Model = InitialModel.GraphArchitecture }, data));
    }
}
