using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ConvGrad.Data;

namespace ConvGrad.Tests;

/// <summary>
/// The divergence guard of <c>convgrad train</c>: a LeNet at a huge learning rate (300: the loss stays finite through
/// epoch 1, whose checkpoint is written, and turns NaN in epoch 2) stops at the step with exit 1 and one line naming
/// the epoch, the step and the quantity, leaving only the last good checkpoint; with the guard off the same run saves
/// NaN weights (so the guard is what stops it); <c>--detect-anomaly</c> names the first operation that went non-finite.
/// </summary>
public sealed partial class DivergenceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private static readonly string[] Recipe = ["train", "--model", "lenet", "--train-limit", "512", "--epochs", "3", "--threads", "1", "--lr", "300"];

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    [GeneratedRegex(@"^convgrad train: training diverged at epoch (\d+), step (\d+): (the loss|the gradient of \S+|after the optimiser step, the weight \S+) is (NaN|Infinity|-Infinity);")]
    private static partial Regex DivergedLine();

    private static bool AllFinite(SafeTensor t) =>
        t.DType != SafeTensorDType.F32 || MemoryMarshal.Cast<byte, float>(t.Data).ToArray().All(float.IsFinite);

    [Fact]
    public void HugeLearningRate_StopsAtTheStepWithExit1_AndLeavesOnlyTheLastGoodCheckpoint()
    {
        string outDir = Out("diverged");
        var (code, _, err) = Cli.Run([.. Recipe, "--out", outDir]);
        Assert.Equal(1, code);
        string line = Assert.Single(err.TrimEnd().Split('\n'));
        var m = DivergedLine().Match(line);
        Assert.True(m.Success, line);
        int epoch = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int step = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(epoch >= 2, $"the run diverged in epoch {epoch}; the test needs a good checkpoint before it");
        Assert.InRange(step, (epoch - 1) * 8, epoch * 8 - 1);  // 512 digits, batch 64: 8 steps per epoch

        // Only the last good checkpoints (the last two are kept): no final weights, history or plot; the newest
        // checkpoint loads, and every tensor file is finite.
        var files = Directory.GetFiles(outDir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal("checkpoint.json", files[^1]);
        var tensorFiles = files[..^1];
        Assert.Equal(Math.Min(2, epoch - 1), tensorFiles.Count);
        Assert.StartsWith($"checkpoint-e{epoch - 1:D4}-", tensorFiles[^1], StringComparison.Ordinal);
        Assert.All(tensorFiles.SelectMany(f => SafeTensorsFile.Read(Path.Combine(outDir, f))), t => Assert.True(AllFinite(t), $"{t.Name} holds a non-finite value"));
        var model = ConvGrad.Nn.ImageClassifiers.Create("lenet", new Random(1), ConvGrad.Nn.ImageClassifiers.Digits, 10).State();
        var checkpoint = Checkpoint.Load(outDir, "convgrad-lenet", model);
        Assert.Equal(epoch - 1, checkpoint.Epoch);
        Assert.All(checkpoint.Model.Concat(checkpoint.Optimizer), t => Assert.True(AllFinite(t), $"{t.Name} holds a non-finite value"));
    }

    [Fact]
    public void WithTheGuardOff_TheSameRunEndsWithNonFiniteWeights()
    {
        string outDir = Out("unguarded");
        var (code, _, err) = Cli.Run([.. Recipe, "--out", outDir, "--allow-non-finite"]);
        Assert.True(code == 0, err);
        var weights = SafeTensorsFile.Read(Path.Combine(outDir, "lenet.safetensors"));
        Assert.Contains(weights, t => !AllFinite(t));
    }

    [Fact]
    public void DetectAnomaly_NamesTheFirstOperationWhoseResultWentNonFinite()
    {
        string outDir = Out("anomaly");
        var (code, _, err) = Cli.Run([.. Recipe, "--out", outDir, "--detect-anomaly"]);
        Assert.Equal(1, code);
        string line = Assert.Single(err.TrimEnd().Split('\n'));
        Assert.Matches(@"^convgrad train: training diverged at epoch \d+, step \d+: the (forward|backward) result of \w+ is (NaN|Infinity|-Infinity); " +
                       @"the first non-finite value came from (forward|backward) operation \w+: ", line);
        Assert.False(File.Exists(Path.Combine(outDir, "lenet.safetensors")));
    }
}
