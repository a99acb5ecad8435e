using System.Globalization;
using System.Text.RegularExpressions;
using ConvGrad.Data;
using ConvGrad.Nn;

namespace ConvGrad.Tests.Data;

/// <summary>
/// The issue's end-to-end case: a PNG folder made from the bundled digits (RGB and gray files, one corrupt) trains
/// with <c>train --data DIR</c>, and <c>predict</c> on its held-out folder prints class names, true labels and the
/// accuracy training reported; model files carry their metadata and a file of another architecture is refused.
/// </summary>
public sealed class TrainAndPredictImageFolderTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private string In(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void APngFolder_Trains_ThenPredictPrintsClassNamesTrueLabelsAndTheSameAccuracy()
    {
        string data = In("pngs");
        ImageFolderFixture.WriteDigits(data, 1000, 200);
        string corrupt = Directory.GetFiles(Path.Combine(data, "train", "seven")).Order(StringComparer.Ordinal).First();
        ImageFolderFixture.Truncate(corrupt);
        string outDir = In("out");

        var (code, stdout, stderr) = Cli.Run(["train", "--data", data, "--model", "lenet", "--epochs", "3", "--threads", "2", "--lr", "0.05", "--out", outDir]);
        Assert.True(code == 0, stderr);
        Assert.Equal($"warning: {corrupt}: corrupt or truncated image (the data ends early or is damaged); skipped", stderr.Trim());
        Assert.Contains("training on 999, holding out 200", stdout, StringComparison.Ordinal);
        Assert.Contains("images: 3x28x28, 10 classes (eight, five, four, nine, one, seven, six, three, two, zero)", stdout, StringComparison.Ordinal);
        string held = Regex.Match(stdout, @"held-out accuracy: (\d+\.\d\d)%\s*$").Groups[1].Value;
        Assert.True(double.Parse(held, CultureInfo.InvariantCulture) >= 80, stdout);

        // The model file says what it is.
        string weights = Path.Combine(outDir, "lenet.safetensors");
        var info = Classifier.Load(weights).Info;
        Assert.Equal("lenet", info.Architecture);
        Assert.Equal(new ImageShape(3, 28, 28), info.InputShape);
        Assert.Equal(ImageFolderFixture.Names.Order(StringComparer.Ordinal), info.Classes);
        Assert.Equal(3, info.Normalization.Channels);

        // predict on the held-out folder: every image with its class name and true label, then the same accuracy.
        var (pcode, pout, perr) = Cli.Run(["predict", "--model", weights, "--image", Path.Combine(data, "test")]);
        Assert.True(pcode == 0, perr);
        var lines = pout.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(201, lines.Length);
        var line = new Regex(@"^image (\S+): class (\w+)  true (\w+)  probabilities( \w+:[01]\.\d{6}){10}$");
        int correct = 0;
        foreach (var l in lines[..^1])
        {
            var m = line.Match(l);
            Assert.True(m.Success, l);
            Assert.Equal(Path.GetFileName(Path.GetDirectoryName(m.Groups[1].Value)), m.Groups[3].Value);
            correct += m.Groups[2].Value == m.Groups[3].Value ? 1 : 0;
        }
        Assert.Equal($"accuracy: {100.0 * correct / 200:F2}% ({correct} of 200 images)", lines[^1]);
        Assert.Equal($"accuracy: {held}% ({correct} of 200 images)", lines[^1]);

        // One file of any size, given alone: resized, no true label, no accuracy line; never inverted unless asked.
        string big = In("big.png");
        ImageFolderFixture.WritePng(big, Upscale(TestDigits.All.Pixels(8001), 2), 56, 56, rgb: false);
        var (bcode, bout, berr) = Cli.Run(["predict", "--model", weights, "--image", big]);
        Assert.True(bcode == 0, berr);
        Assert.Matches(new Regex(@"^image .*big\.png: class \w+  probabilities( \w+:[01]\.\d{6}){10}$"), bout.Trim());
        var (icode, iout, _) = Cli.Run(["predict", "--model", weights, "--image", big, "--invert"]);
        Assert.Equal(0, icode);
        Assert.NotEqual(bout, iout);
    }

    [Fact]
    public void AModelFileOfAnotherArchitecture_IsRefused_NamingWhatItHoldsAndWhatWasExpected()
    {
        var lenet = LeNet.Create<float>(new Random(1));
        string mislabelled = In("resnet.safetensors");
        Classifier.Save(mislabelled, lenet, ClassifierInfo.Digits("resnet"));
        var (code, stdout, stderr) = Cli.Run(["predict", "--model", mislabelled, "--idx", Path.Combine(TestDigits.Folder, "images-idx3-ubyte.gz")]);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains("the file holds a lenet", stderr, StringComparison.Ordinal);
        Assert.Contains("expected the resnet its metadata names", stderr, StringComparison.Ordinal);

        string foreign = In("foreign.safetensors");
        SafeTensorsFile.Write(foreign, [SafeTensor.FromTensor("encoder.weight", Tensor<float>.Zeros(4, 4))]);
        (code, _, stderr) = Cli.Run(["predict", "--model", foreign, "--idx", Path.Combine(TestDigits.Folder, "images-idx3-ubyte.gz")]);
        Assert.Equal(2, code);
        Assert.Contains("encoder.weight of no known architecture; expected a lenet or resnet", stderr, StringComparison.Ordinal);

        // A ResNet for 3x32x32 images and 4 classes, whose metadata says 10 classes: the shapes do not fit.
        var resnet = new ResNet<float>(new Random(2), inChannels: 3, classes: 4);
        string wrong = In("wrong.safetensors");
        Classifier.Save(wrong, resnet, ClassifierInfo.Digits("resnet") with { InputShape = new ImageShape(3, 32, 32), Normalization = Normalization.Mnist.For(3) });
        var e = Assert.Throws<InvalidDataException>(() => Classifier.Load(wrong));
        Assert.Contains("does not fit resnet for 3x32x32 images and 10 classes", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Upscale(ReadOnlySpan<byte> px, int f)
    {
        var big = new byte[784 * f * f];
        for (int y = 0; y < 28 * f; y++)
        for (int x = 0; x < 28 * f; x++)
        {
            big[y * 28 * f + x] = px[(y / f) * 28 + x / f];
        }
        return big;
    }
}
