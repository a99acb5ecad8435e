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
    public void Saves_keep_the_last_two_checkpoints_in_one_manifest_with_their_checksums()
    {
        Sample(epoch: 1).Save(Folder);
        Sample(epoch: 2, scale: 2).Save(Folder);
        Sample(epoch: 3, scale: 3).Save(Folder);
        var files = Directory.GetFiles(Folder, "checkpoint-e*.safetensors").Select(f => Path.GetFileName(f)).Order().ToList();
        Assert.Equal(2, files.Count);
        Assert.StartsWith("checkpoint-e0002-", files[0], StringComparison.Ordinal);
        Assert.StartsWith("checkpoint-e0003-", files[1], StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Folder, "*.tmp", SearchOption.AllDirectories).Concat(Directory.GetFiles(Folder, ".*")));
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, Checkpoint.ManifestName)))!;
        Assert.Equal("convgrad-checkpoint/2", manifest["format"]!.GetValue<string>());
        var entries = manifest["checkpoints"]!.AsArray();
        Assert.Equal(new[] { 3, 2 }, entries.Select(e => e!["epoch"]!.GetValue<int>()));
        Assert.Equal(files.AsEnumerable().Reverse(), entries.Select(e => e!["file"]!.GetValue<string>()));
        Assert.All(entries, e => Assert.Equal(
            Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(Folder, e!["file"]!.GetValue<string>())))), e!["sha256"]!.GetValue<string>()));
        var loaded = Checkpoint.Load(Folder, "test-net", Model());
        Assert.Equal(3, loaded.Epoch);
        Assert.Equal(Model(scale: 3)[0].Data, loaded.Model[0].Data);
    }

    [Fact]
    public void A_corrupt_newest_checkpoint_falls_back_to_the_previous_with_one_warning_line()
    {
        Sample(epoch: 1).Save(Folder);
        Sample(epoch: 2, scale: 2).Save(Folder);
        string newest = Directory.GetFiles(Folder, "checkpoint-e0002-*.safetensors").Single();
        var bytes = File.ReadAllBytes(newest);
        bytes[^3] ^= 0x01;
        File.WriteAllBytes(newest, bytes);
        var before = Snapshot();
        var warnings = new List<string>();
        var loaded = Checkpoint.Load(Folder, "test-net", Model(), warnings.Add);
        Assert.Equal(1, loaded.Epoch);
        Assert.Equal(Model()[0].Data, loaded.Model[0].Data);
        string warning = Assert.Single(warnings);
        Assert.DoesNotContain('\n', warning);
        Assert.Contains("the newest checkpoint (epoch 2) is corrupt", warning, StringComparison.Ordinal);
        Assert.Contains("SHA-256", warning, StringComparison.Ordinal);
        Assert.Contains("loaded the previous one (epoch 1) instead", warning, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot());

        // The run goes on from epoch 1: its next save keeps epoch 1 as the previous checkpoint and drops the corrupt file.
        Sample(epoch: 2, scale: 5).Save(Folder);
        Assert.False(File.Exists(newest));
        Assert.Equal(2, Directory.GetFiles(Folder, "checkpoint-e*.safetensors").Length);
        Assert.Equal(Model(scale: 5)[0].Data, Checkpoint.Load(Folder, "test-net", Model(), _ => Assert.Fail("no fallback expected")).Model[0].Data);
    }

    [Fact]
    public void Two_corrupt_checkpoints_are_refused_naming_both()
    {
        Sample(epoch: 1).Save(Folder);
        Sample(epoch: 2).Save(Folder);
        foreach (var f in Directory.GetFiles(Folder, "checkpoint-e*.safetensors"))
        {
            File.WriteAllBytes(f, File.ReadAllBytes(f)[..100]);
        }
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(Folder, "test-net", Model(), _ => Assert.Fail("nothing to fall back to")));
        Assert.Contains("corrupt checkpoint", e.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.Contains("the previous checkpoint (epoch 1) is corrupt too", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_format_1_manifest_of_one_checkpoint_still_loads()
    {
        Sample(epoch: 4).Save(Folder);
        string path = Path.Combine(Folder, Checkpoint.ManifestName);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var entry = manifest["checkpoints"]![0]!.AsObject();
        var old = new System.Text.Json.Nodes.JsonObject { ["format"] = "convgrad-checkpoint/1", ["model"] = "test-net", ["architecture"] = manifest["architecture"]!.DeepClone() };
        foreach (var (k, v) in entry)
        {
            old[k] = v?.DeepClone();
        }
        File.WriteAllText(path, old.ToJsonString());
        Assert.Equal(4, Checkpoint.Load(Folder, "test-net", Model()).Epoch);
        Sample(epoch: 5).Save(Folder);
        Assert.Equal(2, Directory.GetFiles(Folder, "checkpoint-e*.safetensors").Length);
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
        // The next save cleans up after the crash: the torn files go, epoch 1 stays as the previous checkpoint.
        Sample(epoch: 2).Save(Folder);
        Assert.Equal(2, Checkpoint.Load(Folder, "test-net", Model()).Epoch);
        Assert.Equal(2, Directory.GetFiles(Folder, "checkpoint-e*.safetensors").Length);
        Assert.DoesNotContain(Directory.GetFiles(Folder), f => f.EndsWith(".tmp", StringComparison.Ordinal) || f.Contains("deadbeef", StringComparison.Ordinal));
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
