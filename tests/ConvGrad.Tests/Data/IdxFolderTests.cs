using System.IO.Compression;
using ConvGrad.Data;

namespace ConvGrad.Tests.Data;

/// <summary>IDX datasets of any class count, EMNIST-style names, and classes.txt.</summary>
public sealed class IdxFolderTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private static byte[] Idx(int[] dims, byte[] data)
    {
        var header = new byte[4 + 4 * dims.Length];
        header[2] = 0x08;
        header[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dims[i]);
        }
        return [.. header, .. data];
    }

    private void Write(string prefix, byte[] labels, int side = 6, bool gz = false)
    {
        var images = Enumerable.Range(0, labels.Length * side * side).Select(i => (byte)(i * 7)).ToArray();
        void Put(string name, byte[] bytes)
        {
            if (gz)
            {
                using var f = File.Create(PathOf(name + ".gz"));
                using var z = new GZipStream(f, CompressionLevel.Fastest);
                z.Write(bytes);
            }
            else
            {
                File.WriteAllBytes(PathOf(name), bytes);
            }
        }
        Put(prefix + "images-idx3-ubyte", Idx([labels.Length, side, side], images));
        Put(prefix + "labels-idx1-ubyte", Idx([labels.Length], labels));
    }

    [Fact]
    public void EmnistStyleNames_With26Classes_AndClassesTxt_LoadWithTheNames()
    {
        Write("emnist-letters-train-", [.. Enumerable.Range(0, 52).Select(i => (byte)(i % 26))], gz: true);
        Write("emnist-letters-test-", [0, 25, 3]);
        File.WriteAllLines(PathOf(IdxFolder.ClassesFile), Enumerable.Range(0, 26).Select(i => ((char)('a' + i)).ToString()));
        Assert.True(IdxFolder.Contains(_dir.FullName));
        var split = IdxFolder.Load(_dir.FullName);
        Assert.Equal((52, 3), (split.Train.Count, split.Test.Count));
        Assert.Equal(26, split.Train.Classes.Count);
        Assert.Equal("z", split.Test.Classes[split.Test.Label(1)]);
        Assert.Null(split.Normalization);
        Assert.Equal(new ImageShape(1, 6, 6), split.Train.Shape);
    }

    [Fact]
    public void WithoutClassesTxt_TheClassesAreTheLabelsNumbers_OverBothSets()
    {
        Write("train-", [0, 1, 2, 11]);
        Write("t10k-", [12, 0]);
        var split = IdxFolder.Load(_dir.FullName);
        Assert.Equal(13, split.Train.Classes.Count);
        Assert.Equal(split.Train.Classes, split.Test.Classes);
        Assert.Equal("12", split.Test.Classes[split.Test.Label(0)]);
        Assert.Equal(Normalization.Mnist, split.Normalization);  // the official names: MNIST's normalisation
    }

    [Fact]
    public void ClassesTxt_ThatNamesTooFewClasses_NamesTheLabelsFile()
    {
        Write("train-", [0, 1, 5]);
        Write("t10k-", [0]);
        File.WriteAllLines(PathOf(IdxFolder.ClassesFile), ["a", "b", "c"]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFolder.Load(_dir.FullName));
        Assert.Contains(PathOf("train-labels-idx1-ubyte"), e.Message, StringComparison.Ordinal);
        Assert.Contains("label 5", e.Message, StringComparison.Ordinal);
    }
}
