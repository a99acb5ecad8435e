using System.Security.Cryptography;
using ConvGrad.Data;

namespace ConvGrad.Tests.Distributed;

public class CheckpointTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose()
    {
        _dir.Delete(recursive: true);
        GC.SuppressFinalize(this);
    }

    private static List<SafeTensor> Model(int hidden = 6, float scale = 1)
    {
        var w = Tensor<float>.FromArray(Enumerable.Range(0, hidden * 4).Select(i => scale * MathF.Sin(i) / 3).ToArray(), hidden, 4);
        var b = Tensor<float>.FromArray(Enumerable.Range(0, hidden).Select(i => scale * (i - 2.5f) * 1e-7f).ToArray(), hidden);
        return [SafeTensor.FromTensor("0.weight", w), SafeTensor.FromTensor("0.bias", b), SafeTensor.Int64Scalar("1.num_batches_tracked", 12)];
    }

    private static Checkpoint Sample(int epoch = 3, float scale = 1) => new("test-net", epoch, Model(scale: scale),
        [SafeTensor.FromTensor("velocity.0", Tensor<double>.FromArray([1e-300, -2, double.Epsilon], 3))],
        [0xFFFF_FFFF_FFFF_FFFF, 1, 0x8000_0000_0000_0000],
        new Dictionary<string, string> { ["step"] = "375", ["ranks"] = "2" });

    private string Folder => _dir.FullName;

    private string TensorFile => Directory.GetFiles(Folder, "checkpoint-e*.safetensors").Single();

    private Dictionary<string, string> Snapshot() => Directory.GetFiles(Folder)
        .ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void Round_trip_is_bitwise()
    {
        var saved = Sample();
        saved.Save(Folder);
        var loaded = Checkpoint.Load(Folder, "test-net", Model());
        Assert.Equal(3, loaded.Epoch);
        Assert.Equal(saved.Architecture, loaded.Architecture);
        Assert.Equal(saved.RandomState, loaded.RandomState);
        Assert.Equal(saved.Metadata, loaded.Metadata);
        foreach (var (a, b) in saved.Model.Concat(saved.Optimizer).Zip(loaded.Model.Concat(loaded.Optimizer)))
        {
            Assert.Equal((a.Name, a.DType), (b.Name, b.DType));
            Assert.Equal(a.Shape, b.Shape);
            Assert.Equal(a.Data, b.Data);
        }
        Assert.Equal(12, loaded.ModelState["1.num_batches_tracked"].Int64Value());
    }

    [Fact]
    public void A_new_save_replaces_the_old_and_leaves_one_tensor_file()
    {
        Sample(epoch: 1).Save(Folder);
        Sample(epoch: 2, scale: 2).Save(Folder);
        Assert.Single(Directory.GetFiles(Folder, "checkpoint-e*.safetensors"));
        Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
        var loaded = Checkpoint.Load(Folder, "test-net", Model());
        Assert.Equal(2, loaded.Epoch);
        Assert.Equal(Model(scale: 2)[0].Data, loaded.Model[0].Data);
    }

    [Fact]
    public void A_crash_before_the_manifest_is_replaced_leaves_the_previous_checkpoint()
    {
        Sample(epoch: 1).Save(Folder);
        // What a crash leaves mid-save: the next epoch's tensor file, and a torn temporary manifest.
        File.WriteAllBytes(Path.Combine(Folder, "checkpoint-e0002-deadbeef.safetensors"), [1, 2, 3]);
        File.WriteAllText(Path.Combine(Folder, ".checkpoint.json.123.0.tmp"), "{\"format\": \"convgr");
        var loaded = Checkpoint.Load(Folder, "test-net", Model());
        Assert.Equal(1, loaded.Epoch);
        // The next save cleans up after the crash.
        Sample(epoch: 2).Save(Folder);
        Assert.Equal(2, Checkpoint.Load(Folder, "test-net", Model()).Epoch);
        Assert.Single(Directory.GetFiles(Folder, "checkpoint-e*.safetensors"));
    }

    [Fact]
    public void A_flipped_bit_is_refused_and_nothing_is_changed()
    {
        Sample().Save(Folder);
        var bytes = File.ReadAllBytes(TensorFile);
        bytes[^5] ^= 0x10;
        File.WriteAllBytes(TensorFile, bytes);
        var before = Snapshot();
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model()));
        Assert.Contains("corrupt checkpoint", e.Message);
        Assert.Contains("SHA-256", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void A_truncated_tensor_file_is_refused()
    {
        Sample().Save(Folder);
        var bytes = File.ReadAllBytes(TensorFile);
        File.WriteAllBytes(TensorFile, bytes[..(bytes.Length / 2)]);
        Assert.Contains("truncated", Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model())).Message);
        File.Delete(TensorFile);
        Assert.Contains("missing", Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model())).Message);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("[1, 2]")]
    [InlineData("{\"format\": \"convgrad-checkpoint/1\"}")]
    [InlineData("{\"format\": \"convgrad-checkpoint/1\", \"model\": \"test-net\", \"architecture\": 5}")]
    public void A_damaged_manifest_is_refused_in_one_line(string manifest)
    {
        Sample().Save(Folder);
        File.WriteAllText(Path.Combine(Folder, Checkpoint.ManifestName), manifest);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model()));
        Assert.Contains("corrupt checkpoint", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_checkpoint_of_another_model_is_refused_naming_both()
    {
        Sample().Save(Folder);
        var before = Snapshot();
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "other-net", Model()));
        Assert.Contains("'test-net', not 'other-net'", e.Message);
        e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model(hidden: 7)));
        Assert.Contains("another 'test-net' architecture", e.Message);
        Assert.Contains("'0.weight' 6x4 in the checkpoint but '0.weight' 7x4 in the model", e.Message);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void No_checkpoint_says_so()
    {
        Assert.False(Checkpoint.Exists(Folder));
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model()));
        Assert.Contains("no checkpoint to resume from", e.Message);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void Atomic_write_that_fails_leaves_the_old_file_and_no_temporary()
    {
        string path = Path.Combine(Folder, "training.csv");
        AtomicFile.WriteAllLines(path, ["epoch,loss", "1,0.5"]);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            throw new InvalidOperationException("crash mid-write");
        }));
        Assert.Equal("epoch,loss\n1,0.5\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(Folder));
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
    }

    [Fact]
    public void Safetensors_writing_replaces_a_file_whole()
    {
        string path = Path.Combine(Folder, "lenet.safetensors");
        SafeTensorsFile.Write(path, Model(hidden: 8));
        SafeTensorsFile.Write(path, Model(hidden: 2));
        Assert.Equal([2, 4], SafeTensorsFile.ReadDictionary(path)["0.weight"].Shape);
        Assert.Single(Directory.GetFiles(Folder));
    }
}
