using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ConvGrad.Data;

namespace ConvGrad.Tests;

/// <summary>IDX and safetensors readers: round trips, and bad files give errors that name the file and the problem.</summary>
public sealed class DataFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("convgrad-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static byte[] Idx(int[] dims, int dataBytes, byte type = 0x08)
    {
        var b = new byte[4 + 4 * dims.Length + dataBytes];
        b[2] = type;
        b[3] = (byte)dims.Length;
        for (int a = 0; a < dims.Length; a++)
        {
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4 + 4 * a), dims[a]);
        }
        for (int i = 0; i < dataBytes; i++)
        {
            b[4 + 4 * dims.Length + i] = (byte)(i % 10);
        }
        return b;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }

    [Fact]
    public void Idx_PlainAndGzip_ReadTheSameDimsAndBytes()
    {
        var raw = Idx([3, 2, 2], 12);
        File.WriteAllBytes(PathOf("a"), raw);
        File.WriteAllBytes(PathOf("a.gz"), Gzip(raw));
        var plain = IdxFile.Read(PathOf("a"));
        var gz = IdxFile.Read(PathOf("a.gz"));
        Assert.Equal(new[] { 3, 2, 2 }, plain.Dims);
        Assert.Equal(plain.Data, gz.Data);
        Assert.Equal(raw.AsSpan(16).ToArray(), plain.Data);
    }

    [Fact]
    public void Idx_BadMagic_NamesTheFile()
    {
        var raw = Idx([2], 2);
        raw[0] = 0x50;
        File.WriteAllBytes(PathOf("bad-magic"), raw);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(PathOf("bad-magic")));
        Assert.Contains(PathOf("bad-magic"), e.Message, StringComparison.Ordinal);
        Assert.Contains("magic", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Idx_Truncated_NamesTheFileAndTheByteCounts()
    {
        File.WriteAllBytes(PathOf("short.gz"), Gzip(Idx([5, 28, 28], 100)));
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(PathOf("short.gz")));
        Assert.Contains(PathOf("short.gz"), e.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.Contains("3920", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Idx_TruncatedGzipStream_NamesTheFile()
    {
        var gz = Gzip(Idx([50, 28, 28], 50 * 784));
        File.WriteAllBytes(PathOf("cut.gz"), gz.AsSpan(0, gz.Length / 2).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(PathOf("cut.gz")));
        Assert.Contains(PathOf("cut.gz"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mnist_LabelImageCountMismatch_NamesBothFiles()
    {
        File.WriteAllBytes(PathOf("images-idx3-ubyte"), Idx([4, 28, 28], 4 * 784));
        File.WriteAllBytes(PathOf("labels-idx1-ubyte"), Idx([3], 3));
        var e = Assert.Throws<InvalidDataException>(() => IdxFolder.Load(_dir));
        Assert.Contains("count mismatch", e.Message, StringComparison.Ordinal);
        Assert.Contains(PathOf("images-idx3-ubyte"), e.Message, StringComparison.Ordinal);
        Assert.Contains(PathOf("labels-idx1-ubyte"), e.Message, StringComparison.Ordinal);
        Assert.Contains("4 images", e.Message, StringComparison.Ordinal);
        Assert.Contains("3 labels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mnist_OfficialFolder_ListsEveryMissingFile()
    {
        File.WriteAllBytes(PathOf("train-images-idx3-ubyte.gz"), Gzip(Idx([1, 28, 28], 784)));
        var e = Assert.Throws<FileNotFoundException>(() => IdxFolder.Load(_dir));
        Assert.Contains("train-labels-idx1-ubyte", e.Message, StringComparison.Ordinal);
        Assert.Contains("t10k-images-idx3-ubyte", e.Message, StringComparison.Ordinal);
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("missing train-images", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mnist_BundledDigits_Load10000With28x28ImagesAndEveryClass()
    {
        var split = IdxFolder.Load(TestDigits.Folder);
        Assert.Equal((8000, 2000), (split.Train.Count, split.Test.Count));
        Assert.Equal(Normalization.Mnist, split.Normalization);
        var set = TestDigits.All;
        Assert.Equal(10_000, set.Count);
        Assert.Equal(new ImageShape(1, 28, 28), set.Shape);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], set.Classes);
        var counts = new int[10];
        for (int i = 0; i < set.Count; i++)
        {
            counts[set.Label(i)]++;
        }
        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public void SafeTensors_RoundTrip_KeepsNamesOrderDtypesShapesValuesAndMetadata()
    {
        var w = NnGradCheck.Random(new Random(1), 2, 3, 4);
        var wf = Tensor<float>.FromArray([1.5f, -2.25f, float.MaxValue], 3);
        string p = PathOf("m.safetensors");
        SafeTensorsFile.Write(p, [SafeTensor.FromTensor("0.weight", wf), SafeTensor.FromTensor("b", w), SafeTensor.Int64Scalar("n", 42)],
            new Dictionary<string, string> { ["model"] = "x" });
        var back = SafeTensorsFile.Read(p);
        Assert.Equal(["0.weight", "b", "n"], back.Select(t => t.Name));
        Assert.Equal(SafeTensorDType.F32, back[0].DType);
        Assert.Equal(wf.ToArray(), back[0].ToTensor<float>().ToArray());
        Assert.Equal(new[] { 2, 3, 4 }, back[1].Shape);
        Assert.Equal(w.ToArray(), back[1].ToTensor<double>().ToArray());
        Assert.Empty(back[2].Shape);
        Assert.Equal(42, back[2].Int64Value());
        Assert.Equal("x", SafeTensorsFile.ReadMetadata(p)["model"]);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(p));
        Assert.Equal(0, headerLength % 8);
    }

    private string WriteRaw(string name, string header, int dataBytes, long? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(b, declaredLength ?? json.Length);
        json.CopyTo(b, 8);
        File.WriteAllBytes(PathOf(name), b);
        return PathOf(name);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, "needs 16 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 8, "outside")]
    [InlineData("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "BF16")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]", 8, "not valid JSON")]
    [InlineData("[1, 2]", 0, "not a JSON object")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8, "overlap")]
    public void SafeTensors_BadHeaderOrSizes_NameTheFileAndTheProblem(string header, int dataBytes, string expected)
    {
        string p = WriteRaw("bad.safetensors", header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(p));
        Assert.Contains(p, e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SafeTensors_HeaderLengthPastTheEnd_IsRejected()
    {
        string p = WriteRaw("long.safetensors", "{}", 0, declaredLength: 1 << 20);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(p));
        Assert.Contains("header length", e.Message, StringComparison.Ordinal);
        File.WriteAllBytes(PathOf("tiny"), [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(PathOf("tiny")));
    }

    [Fact]
    public void LoadState_WrongShapeOrMissingTensor_NamesTheTensor()
    {
        var m = ConvGrad.Nn.LeNet.Create<float>(new Random(1));
        var state = m.State().ToDictionary(t => t.Name);
        state["3.weight"] = SafeTensor.FromTensor("3.weight", Tensor<float>.Zeros(64, 32, 5, 5));
        var e = Assert.Throws<ArgumentException>(() => m.LoadState(state));
        Assert.Contains("3.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("[64, 32, 5, 5]", e.Message, StringComparison.Ordinal);
        state.Remove("3.weight");
        e = Assert.Throws<ArgumentException>(() => m.LoadState(state));
        Assert.Contains("no tensor '3.weight'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LeNet_SavedAndLoaded_GivesIdenticalLogits()
    {
        var a = ConvGrad.Nn.LeNet.Create<float>(new Random(1));
        var b = ConvGrad.Nn.LeNet.Create<float>(new Random(2));
        string p = PathOf("lenet.safetensors");
        SafeTensorsFile.Write(p, a.State());
        b.LoadState(SafeTensorsFile.ReadDictionary(p));
        a.SetTraining(false);
        b.SetTraining(false);
        var x = Tensor<float>.Zeros(2, 1, 28, 28);
        var r = new Random(3);
        foreach (ref var v in x.Span)
        {
            v = (float)r.NextDouble();
        }
        Assert.Equal(a.Forward(x).Value.ToArray(), b.Forward(x).Value.ToArray());
        Assert.Equal(
            ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "10.weight", "10.bias"],
            SafeTensorsFile.Read(p).Select(t => t.Name));
    }
}
