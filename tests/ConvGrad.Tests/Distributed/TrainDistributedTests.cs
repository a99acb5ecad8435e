using System.Globalization;
using System.Security.Cryptography;
using ConvGrad.Data;

namespace ConvGrad.Tests.Distributed;

/// <summary>
/// <c>convgrad train</c> with checkpoints, <c>--resume</c> and <c>--distributed</c>: a run stopped after an epoch and
/// resumed ends bitwise equal to an uninterrupted one (1 process in-process; 2 ranks under mpirun); 2 ranks follow the
/// 1-process loss; two 2-rank runs are bitwise equal; a foreign or corrupt checkpoint is refused and left unchanged;
/// <c>--distributed</c> without mpirun is one line and exit 2. Small runs: 512 digits, batch 64, 2 epochs.
/// </summary>
public sealed class TrainDistributedTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private static readonly string[] Recipe = ["--train-limit", "512", "--epochs", "2", "--threads", "1", "--lr", "0.02"];

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    private static string WeightsDigest(string outDir) =>
        Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(outDir, "lenet.safetensors"))));

    private static double[] Losses(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "losses.csv")).Skip(1)
            .Select(l => double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture)).ToArray();

    private static string CliDll
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            string path = Path.Combine(TestPaths.RepoRoot, "src", "ConvGrad.Cli", "bin", configuration, "net10.0", "ConvGrad.Cli.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the CLI is not built: {path}");
        }
    }

    private static MpiJob.Result Mpi(int ranks, string mpiOptions, string arguments) =>
        MpiJob.Start("mpirun", $"--allow-run-as-root --oversubscribe -np {ranks} {mpiOptions} {MpiJob.Dotnet} {CliDll} {arguments}", 300, null);

    private static (int Code, string Out, string Err) Train(string outDir, params string[] extra) =>
        Cli.Run(["train", .. Recipe, "--out", outDir, .. extra]);

    [Fact]
    public void StoppedAfterAnEpoch_ThenResumed_EndsBitwiseEqualToAnUninterruptedRun()
    {
        var (code, output, err) = Train(Out("whole"));
        Assert.True(code == 0, err);
        Assert.EndsWith("%", output.TrimEnd());

        var (c1, o1, e1) = Train(Out("split"), "--stop-after-epoch", "1");
        Assert.True(c1 == 0, e1);
        Assert.Contains("stopped after epoch 1", o1, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Out("split"), "lenet.safetensors")));
        Assert.Equal(1, Checkpoint.Load(Out("split"), "convgrad-lenet", LeNetState()).Epoch);

        var (c2, o2, e2) = Train(Out("split"), "--resume");
        Assert.True(c2 == 0, e2);
        Assert.Contains("resuming from", o2, StringComparison.Ordinal);
        Assert.Equal(WeightsDigest(Out("whole")), WeightsDigest(Out("split")));
        Assert.Equal(Losses(Out("whole")), Losses(Out("split")));
        Assert.Equal(output.TrimEnd().Split('\n')[^1], o2.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public void Resume_RefusesAnotherModelOrACorruptCheckpoint_InOneLine_AndOverwritesNothing()
    {
        var (c1, _, e1) = Train(Out("a"), "--stop-after-epoch", "1");
        Assert.True(c1 == 0, e1);

        // Another model: a ResNet checkpoint in the folder LeNet is told to resume from.
        var (code, _, err) = Cli.Run(["train", "--model", "resnet", "--train-limit", "64", "--epochs", "1", "--threads", "1", "--out", Out("a"), "--resume"]);
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.Contains("convgrad-lenet", err, StringComparison.Ordinal);

        // A flipped byte in the tensor file.
        string tensors = Directory.GetFiles(Out("a"), "checkpoint-*.safetensors").Single();
        var bytes = File.ReadAllBytes(tensors);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(tensors, bytes);
        var before = Directory.GetFiles(Out("a")).ToDictionary(f => f, File.ReadAllBytes);
        var (code2, _, err2) = Train(Out("a"), "--resume");
        Assert.Equal(2, code2);
        Assert.Single(err2.TrimEnd().Split('\n'));
        Assert.Contains("corrupt checkpoint", err2, StringComparison.Ordinal);
        Assert.Equal(before.Keys.Order(), Directory.GetFiles(Out("a")).Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));
    }

    [Fact]
    public void Distributed_WithoutMpirun_IsOneLineAndExit2()
    {
        var (code, _, err) = Cli.Run(["train", "--distributed", "--out", Out("x")]);
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.Contains("mpirun", err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void TwoRanks_FollowOneProcess_AreBitwiseRepeatable_AndResumeBitwise()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        string args = "train " + string.Join(" ", Recipe);
        var (c0, _, e0) = Train(Out("one"));
        Assert.True(c0 == 0, e0);

        var r1 = Mpi(2, "", $"{args} --distributed --out {Out("two-a")}");
        Assert.True(r1.ExitCode == 0, r1.ToString());
        Assert.Contains("data parallel: 2 ranks", r1.Out, StringComparison.Ordinal);
        Assert.Single(r1.Out.Split('\n'), l => l.StartsWith("held-out accuracy:", StringComparison.Ordinal));  // rank 0 alone prints

        // The first steps follow the 1-process losses (the gradient sum's rounding differs, nothing else).
        var one = Losses(Out("one"));
        var two = Losses(Out("two-a"));
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < 8; i++)
        {
            Assert.True(Math.Abs(one[i] - two[i]) <= 1e-4 * Math.Abs(one[i]), $"step {i}: 1 process {one[i]}, 2 ranks {two[i]}");
        }

        // Repeatable bitwise, over TCP too (2 ranks: one rounding per element whatever the transport).
        var r2 = Mpi(2, "--mca btl tcp,self --mca btl_tcp_if_include lo", $"{args} --distributed --out {Out("two-b")}");
        Assert.True(r2.ExitCode == 0, r2.ToString());
        Assert.Equal(WeightsDigest(Out("two-a")), WeightsDigest(Out("two-b")));

        // Stopped after epoch 1, resumed: bitwise the uninterrupted 2-rank run.
        var r3 = Mpi(2, "", $"{args} --distributed --out {Out("two-c")} --stop-after-epoch 1");
        Assert.True(r3.ExitCode == 0, r3.ToString());
        var r4 = Mpi(2, "", $"{args} --distributed --out {Out("two-c")} --resume");
        Assert.True(r4.ExitCode == 0, r4.ToString());
        Assert.Equal(WeightsDigest(Out("two-a")), WeightsDigest(Out("two-c")));
    }

    private static IEnumerable<SafeTensor> LeNetState() =>
        ConvGrad.Nn.DigitModels.Create("lenet", new Random(1)).State();
}
