using System.Text.RegularExpressions;

namespace ConvGrad.Tests.Data;

/// <summary><c>convgrad train --data DIR</c> on a folder of PNG digits in class folders (RGB and gray, one corrupt file).</summary>
public sealed class TrainImageFolderTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void APngFolder_Trains_WarningAboutTheCorruptFile_AndLearnsTheClasses()
    {
        string data = Path.Combine(_dir.FullName, "pngs");
        ImageFolderFixture.WriteDigits(data, 1000, 200);
        string corrupt = Directory.GetFiles(Path.Combine(data, "train", "seven")).Order(StringComparer.Ordinal).First();
        ImageFolderFixture.Truncate(corrupt);
        string outDir = Path.Combine(_dir.FullName, "out");

        var (code, stdout, stderr) = Cli.Run(["train", "--data", data, "--model", "lenet", "--epochs", "3", "--threads", "2", "--lr", "0.05", "--out", outDir]);
        Assert.True(code == 0, stderr);
        Assert.Equal($"warning: {corrupt}: corrupt or truncated image (the data ends early or is damaged); skipped", stderr.Trim());
        Assert.Contains("training on 999, holding out 200", stdout, StringComparison.Ordinal);
        Assert.Contains("images: 3x28x28, 10 classes (eight, five, four, nine, one, seven, six, three, two, zero)", stdout, StringComparison.Ordinal);
        var accuracy = double.Parse(Regex.Match(stdout, @"held-out accuracy: (\d+\.\d\d)%\s*$").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(accuracy >= 80, stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "lenet.safetensors")));
    }
}
