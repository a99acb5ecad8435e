using System.Text.RegularExpressions;
using ConvGrad.Cli;

namespace ConvGrad.Tests;

/// <summary>`convgrad train` and `convgrad predict` end to end on a tiny run, and their usage errors.</summary>
public sealed class TrainCliTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("convgrad-train-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Train_TinyRun_WritesWeightsPlotAndCsv_EndsWithHeldOutAccuracy_ThenPredictReadsTheWeights()
    {
        var (code, stdout, stderr) = Run("train", "--model", "lenet", "--epochs", "1", "--train-limit", "256", "--threads", "1", "--out", _out, "--profile");
        Assert.True(code == 0, stderr);
        // --profile: the step table (StepProfileTests checks its rows) before the closing lines.
        Assert.Matches(new Regex(@"
profile: lenet, batch 64, 1 threads, 4 steps, .*
  operation +forward ms"), stdout);
        var lines = stdout.TrimEnd().Split('\n');
        Assert.Matches(new Regex(@"^held-out accuracy: \d{1,3}\.\d\d%$"), lines[^1].TrimEnd('\r'));
        Assert.True(new FileInfo(Path.Combine(_out, "training.png")).Length > 1000);
        // The plot is written atomically (a temporary file renamed over it), so a PNG signature and no leftover temporary.
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(_out, "training.png"))[..4]);
        Assert.Empty(Directory.GetFiles(_out, "*.tmp"));
        Assert.Matches(new Regex(@"\(docs/model\.md\); sgd lr [0-9.]+ one-cycle, batch 64, 1 epoch, ", RegexOptions.IgnoreCase), stdout);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(_out, "training.csv")).Length);
        string model = Path.Combine(_out, "lenet.safetensors");

        var (pcode, pout, perr) = Run("predict", "--model", model, "--idx",
            Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k", "images-idx3-ubyte.gz"), "--index", "9998", "--count", "2");
        Assert.True(pcode == 0, perr);
        var plines = pout.TrimEnd().Split('\n');
        Assert.Equal(3, plines.Length);
        Assert.Matches(new Regex(@"^image 9998: class \d  true \d  probabilities( \d:[01]\.\d{6}){10}$"), plines[0].TrimEnd('\r'));
        Assert.Matches(new Regex(@"^accuracy: \d+\.\d\d% \(\d of 2 images\)$"), plines[2].TrimEnd('\r'));

        // The same digit as a dark-on-light PNG: --invert brings it back and must print the same probabilities (no true label).
        var digits = TestDigits.All;
        string png = Path.Combine(_out, "digit.png");
        using (var bmp = new SkiaSharp.SKBitmap(28, 28))
        {
            var px = digits.Pixels(9999);
            for (int i = 0; i < 784; i++)
            {
                byte v = (byte)(255 - px[i]);
                bmp.SetPixel(i % 28, i / 28, new SkiaSharp.SKColor(v, v, v));
            }
            using var data = bmp.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(png, data.ToArray());
        }
        var (icode, iout, ierr) = Run("predict", "--model", model, "--image", png, "--invert");
        Assert.True(icode == 0, ierr);
        Assert.Equal(Regex.Replace(plines[1].TrimEnd('\r'), "^image 9999: (class \\d)  true \\d", "image " + png + ": $1"), iout.TrimEnd());
        // Never inverted unless asked: without --invert the probabilities differ.
        var (ncode, nout, _) = Run("predict", "--model", model, "--image", png);
        Assert.Equal(0, ncode);
        Assert.NotEqual(iout, nout);
    }

    [Theory]
    [InlineData("train", "--optimizer", "rmsprop")]
    [InlineData("train", "--epochs", "0")]
    [InlineData("train", "--data", "/no/such/folder")]
    [InlineData("train", "--bogus", "1")]
    [InlineData("train", "--device", "tpu")]
    [InlineData("train", "--size", "12by12")]
    [InlineData("predict", "--model", "/no/such.safetensors", "--idx", "x")]
    [InlineData("predict", "--image", "a.png", "--idx", "b")]
    public void BadUsage_IsOneLineAndExitCode2(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd().Split('\n'));
    }
}
