using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ConvGrad.Data;

namespace ConvGrad.Tests.Distributed;

/// <summary>
/// <c>convgrad train</c> with checkpoints, <c>--resume</c> and <c>--distributed</c>: a run stopped after an epoch and
/// resumed ends bitwise equal to an uninterrupted one (1 process in-process; 2 ranks under mpirun); 2 ranks follow the
/// 1-process loss for 50 steps; two 2-rank runs (shared memory, TCP) are bitwise equal; a rank killed mid-run ends
/// the job and <c>--resume</c> finishes it bitwise; a foreign or corrupt checkpoint is refused and left unchanged;
/// <c>--distributed</c> without mpirun is one line and exit 2. Small runs: 512 digits, batch 64, 2 epochs (1 process);
/// 800 digits, batch 32, 2 epochs (2 ranks).
/// </summary>
public sealed class TrainDistributedTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private static readonly string[] Recipe = ["--model", "lenet", "--train-limit", "512", "--epochs", "2", "--threads", "1", "--lr", "0.02"];

    /// <summary>
    /// The multi-rank runs: 2 epochs of 25 steps (800 digits, batch 32, 16 per rank), so 50 steps to compare. A gentle
    /// rate: at --lr 0.02 this short one-cycle run is chaotic (the loss jumps 2.4 → 3.0 → 2.1), and any rounding
    /// difference grows ~40× per step from step 7 on, in 1 process as much as with 2 ranks; at 0.005 the 2-rank losses
    /// stay within ~1.4e-7 (relative) of the 1-process ones for all 50 steps.
    /// </summary>
    private static readonly string[] MpiRecipe = ["--model", "lenet", "--train-limit", "800", "--batch-size", "32", "--epochs", "2", "--threads", "1", "--lr", "0.005"];

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

        // Other options: each one that differs is named with the checkpoint's value and this run's.
        var (code1, _, err1) = Cli.Run(["train", .. Recipe.Select(a => a == "0.02" ? "0.05" : a), "--out", Out("a"), "--resume", "--seed", "3"]);
        Assert.Equal(2, code1);
        Assert.Single(err1.TrimEnd().Split('\n'));
        Assert.Contains("other options (lr 0.02 → 0.05, seed 1 → 3)", err1, StringComparison.Ordinal);

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
    public void TwoRanks_Follow1ProcessFor50Steps_AreBitwiseRepeatableOverTcp_AndAKilledRankResumesBitwise()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        string args = "train " + string.Join(" ", MpiRecipe);
        var (c0, _, e0) = Cli.Run(["train", .. MpiRecipe, "--out", Out("one")]);
        Assert.True(c0 == 0, e0);

        var r1 = Mpi(2, "", $"{args} --distributed --out {Out("two-a")}");
        Assert.True(r1.ExitCode == 0, r1.ToString());
        Assert.Contains("data parallel: 2 ranks", r1.Out, StringComparison.Ordinal);
        Assert.Single(r1.Out.Split('\n'), l => l.StartsWith("held-out accuracy:", StringComparison.Ordinal));  // rank 0 alone prints

        // Every step of both epochs follows the 1-process losses (the gradient sum's rounding differs, nothing else).
        var one = Losses(Out("one"));
        var two = Losses(Out("two-a"));
        Assert.Equal(50, one.Length);
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < 50; i++)
        {
            Assert.True(Math.Abs(one[i] - two[i]) <= 1e-5 * Math.Abs(one[i]), $"step {i}: 1 process {one[i]}, 2 ranks {two[i]}");
        }

        // Repeatable bitwise, over TCP too (2 ranks: one rounding per element whatever the transport).
        var r2 = Mpi(2, "--mca btl tcp,self --mca btl_tcp_if_include lo", $"{args} --distributed --out {Out("two-b")}");
        Assert.True(r2.ExitCode == 0, r2.ToString());
        Assert.Equal(WeightsDigest(Out("two-a")), WeightsDigest(Out("two-b")));

        // A rank SIGKILLed in epoch 2 of a real run: the job ends non-zero within seconds, the epoch-1 checkpoint stays,
        // and --resume finishes bitwise equal to the uninterrupted run.
        string killed = Out("two-killed");
        using (var job = MpiJob.Launch("mpirun", $"--allow-run-as-root --oversubscribe -np 2 {MpiJob.Dotnet} {CliDll} {args} --distributed --out {killed}"))
        {
            var stdout = job.StandardOutput.ReadToEndAsync();
            var stderr = job.StandardError.ReadToEndAsync();
            try
            {
                var limit = Stopwatch.StartNew();
                while (!File.Exists(Path.Combine(killed, "checkpoint.json")) && !job.HasExited && limit.Elapsed.TotalSeconds < 240)
                {
                    Thread.Sleep(10);
                }
                if (job.HasExited)
                {
                    Assert.Fail($"the job ended before its first checkpoint: exit {job.ExitCode}\n{stderr.Result}");
                }
                var victims = MpiJob.RankProcesses(killed, 1);
                Assert.Single(victims);
                using (var victim = Process.GetProcessById(victims[0]))
                {
                    victim.Kill();
                }
                var afterKill = Stopwatch.StartNew();
                Assert.True(job.WaitForExit(TimeSpan.FromSeconds(60)), "the job hung after a rank was killed");
                Assert.NotEqual(0, job.ExitCode);
                Assert.True(afterKill.Elapsed.TotalSeconds < 30, $"the job took {afterKill.Elapsed.TotalSeconds:F1} s to end after the kill");
            }
            finally
            {
                if (!job.HasExited)
                {
                    job.Kill(entireProcessTree: true);
                }
            }
        }
        Assert.False(File.Exists(Path.Combine(killed, "lenet.safetensors")), "the run finished before the kill");
        Assert.Equal(1, Checkpoint.Load(killed, "convgrad-lenet", LeNetState()).Epoch);
        var r4 = Mpi(2, "", $"{args} --distributed --out {killed} --resume");
        Assert.True(r4.ExitCode == 0, r4.ToString());
        Assert.Contains("resuming from", r4.Out, StringComparison.Ordinal);
        Assert.Equal(WeightsDigest(Out("two-a")), WeightsDigest(killed));
        Assert.Equal(two, Losses(killed));
    }

    [SkippableFact]
    [Trait("Category", Gpu.GpuCollection.Trait)]
    public void TwoRanks_OnAGpuDevice_EachTakeTheDeviceOfItsLocalRank()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        // ILGPU's CPU accelerator (one device, so both ranks take index 0 = local rank mod 1); with --device cuda the
        // same path opens GPU (local rank mod GPU count). The test ends the job once the ranks have opened their
        // devices and reported them: training on the emulated GPU is minutes on a loaded 2-core machine, and the
        // kernels themselves are tested in tests/Gpu.
        string data = TinyDigits(Out("digits"), 40);
        using var job = MpiJob.Launch("mpirun",
            $"--allow-run-as-root --oversubscribe -np 2 {MpiJob.Dotnet} {CliDll} train --model lenet --device ilgpu-cpu --data {data} --batch-size 32 --epochs 1 --distributed --out {Out("gpu")}");
        var stderr = job.StandardError.ReadToEndAsync();
        var seen = new System.Text.StringBuilder();
        var devices = Task.Run(() =>
        {
            while (job.StandardOutput.ReadLine() is { } line)
            {
                lock (seen)
                {
                    seen.AppendLine(line);
                }
                if (line.StartsWith("devices:", StringComparison.Ordinal))
                {
                    return line;
                }
            }
            return null;
        });
        try
        {
            bool reported = devices.Wait(TimeSpan.FromSeconds(240));
            string output;
            lock (seen)
            {
                output = seen.ToString();
            }
            Assert.True(reported && devices.Result is not null,
                $"no devices line{(job.HasExited ? $" (exit {job.ExitCode}): {stderr.Result}" : " within 240 s")}\n{output}");
            Assert.Equal("devices: rank 0 -> ilgpu-cpu:0, rank 1 -> ilgpu-cpu:0", devices.Result);
            Assert.Contains("device ilgpu-cpu", output, StringComparison.Ordinal);
        }
        finally
        {
            if (!job.HasExited)
            {
                job.Kill(entireProcessTree: true);
                job.WaitForExit();
            }
        }
    }

    /// <summary>A bundled-format folder (images-idx3-ubyte, labels-idx1-ubyte) of <paramref name="count"/> noise digits.</summary>
    private static string TinyDigits(string dir, int count)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(7);
        var images = new byte[16 + count * 28 * 28];
        images[2] = 0x08;
        images[3] = 3;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), count);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 28);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 28);
        rng.NextBytes(images.AsSpan(16));
        var labels = new byte[8 + count];
        labels[2] = 0x08;
        labels[3] = 1;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), count);
        for (int i = 0; i < count; i++)
        {
            labels[8 + i] = (byte)(i % 10);
        }
        File.WriteAllBytes(Path.Combine(dir, "images-idx3-ubyte"), images);
        File.WriteAllBytes(Path.Combine(dir, "labels-idx1-ubyte"), labels);
        return dir;
    }

    private static IEnumerable<SafeTensor> LeNetState() =>
        ConvGrad.Nn.ImageClassifiers.Create("lenet", new Random(1), ConvGrad.Nn.ImageClassifiers.Digits, 10).State();
}
