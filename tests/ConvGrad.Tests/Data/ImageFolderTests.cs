using ConvGrad.Data;
using ConvGrad.Vision;

namespace ConvGrad.Tests.Data;

/// <summary>Image-folder datasets: layouts, channels, sizes, the split rule, and one clear line for each kind of bad input.</summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private string Root => _dir.FullName;

    private string At(params string[] parts) => Path.Combine([Root, .. parts]);

    [Fact]
    public void TrainAndTestFolders_ReadBackTheDigitsExactly_AsRgbWhenAnyFileIsColour()
    {
        ImageFolderFixture.WriteDigits(Root, 40, 20);
        var warnings = new List<string>();
        var split = ImageFolder.Load(Root, warn: warnings.Add);
        Assert.Empty(warnings);
        Assert.Equal(new ImageShape(3, 28, 28), split.Train.Shape);
        Assert.Equal(ImageFolderFixture.Names.Order(StringComparer.Ordinal), split.Train.Classes);
        Assert.Equal((40, 20), (split.Train.Count, split.Test.Count));
        Assert.Null(split.Normalization);
        // A gray PNG repeats the digit into R, G and B; an RGB PNG keeps its colours (lossless).
        for (int i = 0; i < split.Train.Count; i++)
        {
            int k = int.Parse(Path.GetFileNameWithoutExtension(split.Train.Source(i))[1..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(ImageFolderFixture.Names[TestDigits.All.Label(k)], split.Train.Classes[split.Train.Label(i)]);
            var px = split.Train.Pixels(i);
            var digit = TestDigits.All.Pixels(k);
            bool rgb = k % 2 == 1;
            for (int p = 0; p < 784; p++)
            {
                Assert.Equal(digit[p], px[p]);
                Assert.Equal(rgb ? (byte)(digit[p] * 3 / 4) : digit[p], px[784 + p]);
            }
        }
    }

    [Fact]
    public void AllGrayFiles_GiveOneChannel_AndABareFolderSplitsByFileName()
    {
        for (int k = 0; k < 60; k++)
        {
            string folder = At(ImageFolderFixture.Names[TestDigits.All.Label(k)]);
            Directory.CreateDirectory(folder);
            ImageFolderFixture.WritePng(Path.Combine(folder, $"d{k:D5}.png"), TestDigits.All.Pixels(k), 28, 28, rgb: false);
        }
        var split = ImageFolder.Load(Root);
        Assert.Equal(ImageFolderFixture.Gray28, split.Train.Shape);
        Assert.Equal(60, split.Train.Count + split.Test.Count);
        Assert.InRange(split.Test.Count, 4, 24);
        Assert.All(Enumerable.Range(0, split.Test.Count), i =>
            Assert.True(ImageFolder.IsHeldOut(split.Test.Classes[split.Test.Label(i)], Path.GetFileName(split.Test.Source(i)))));
        Assert.All(Enumerable.Range(0, split.Train.Count), i =>
            Assert.False(ImageFolder.IsHeldOut(split.Train.Classes[split.Train.Label(i)], Path.GetFileName(split.Train.Source(i)))));
    }

    [Fact]
    public void BadFiles_AreSkippedWithOneWarningEach_NamingTheFile()
    {
        ImageFolderFixture.WriteDigits(Root, 60, 10);
        string truncated = Directory.GetFiles(At("train", "three")).First();
        ImageFolderFixture.Truncate(truncated);
        string sixteen = At("train", "one", "deep.png");
        Directory.CreateDirectory(At("test", "two"));
        ImageFolderFixture.Write16BitPng(sixteen, 28, 28);
        string text = At("train", "two", "notes.txt");
        File.WriteAllText(text, "not an image");
        string fake = At("test", "two", "fake.png");
        File.WriteAllText(fake, "not a png either");
        File.WriteAllText(At("train", "two", ".DS_Store"), "ignored");
        var warnings = new List<string>();
        var split = ImageFolder.Load(Root, warn: warnings.Add);
        Assert.Equal(4, warnings.Count);
        Assert.Contains(warnings, w => w.StartsWith(truncated + ": corrupt or truncated", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith(sixteen + ": 16-bit PNG", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith(text + ": not a PNG or JPEG", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith(fake + ": not a readable", StringComparison.Ordinal));
        Assert.All(warnings, w => Assert.EndsWith("; skipped", w, StringComparison.Ordinal));
        Assert.Equal((59, 10), (split.Train.Count, split.Test.Count));
    }

    [Fact]
    public void MixedSizes_StopWithoutASize_AndAreResizedWithOne()
    {
        ImageFolderFixture.WriteDigits(Root, 60, 10);
        string big = At("train", "five", "big.jpg");
        ImageFolderFixture.WritePng(big, new byte[56 * 56], 56, 56, rgb: true, SkiaSharp.SKEncodedImageFormat.Jpeg);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(Root));
        Assert.Contains("mixed image sizes", e.Message, StringComparison.Ordinal);
        Assert.Contains(big, e.Message, StringComparison.Ordinal);
        Assert.Contains("--size", e.Message, StringComparison.Ordinal);
        var split = ImageFolder.Load(Root, new ImageFolderOptions { Size = (16, 20), Channels = 1 });
        Assert.Equal(new ImageShape(1, 16, 20), split.Train.Shape);
        Assert.Equal(61, split.Train.Count);
    }

    [Fact]
    public void AnEmptyClassFolder_OrNoClasses_StopInOneLineNamingTheFolder()
    {
        ImageFolderFixture.WriteDigits(Root, 60, 10);
        Directory.CreateDirectory(At("train", "eleven"));
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(Root));
        Assert.Contains(At("train", "eleven") + ": empty class folder", e.Message, StringComparison.Ordinal);

        string empty = At("nothing");
        Directory.CreateDirectory(empty);
        var e2 = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(empty));
        Assert.StartsWith(empty + ": no class folders", e2.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message + e2.Message);
    }

    [Fact]
    public void AHeldOutClassTheTrainingSetLacks_IsRefused()
    {
        ImageFolderFixture.WriteDigits(Root, 60, 10);
        Directory.CreateDirectory(At("test", "cat"));
        ImageFolderFixture.WritePng(At("test", "cat", "c.png"), new byte[784], 28, 28, rgb: false);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(Root));
        Assert.Contains("class 'cat' is not among the training classes", e.Message, StringComparison.Ordinal);
    }
}
