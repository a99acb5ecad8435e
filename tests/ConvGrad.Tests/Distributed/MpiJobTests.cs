using System.Text.RegularExpressions;

namespace ConvGrad.Tests.Distributed;

/// <summary>
/// The communicator layer in real Open MPI jobs of 2 ranks, started by mpirun on tests/ConvGrad.MpiDriver, over
/// shared memory and over TCP; failures must end the job, not hang it.
/// </summary>
[Collection(nameof(MpiJobTests))]
[CollectionDefinition(nameof(MpiJobTests), DisableParallelization = true)]
public partial class MpiJobTests
{
    // TCP only (no shared memory), over the loopback interface so it works on a machine with no other network.
    private const string Tcp = "--mca btl tcp,self --mca btl_tcp_if_include lo";

    [SkippableTheory]
    [InlineData("")]
    [InlineData(Tcp)]
    public void Collectives_give_the_exact_sums_means_and_broadcasts(string mpiOptions)
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        var job = MpiJob.Run(2, mpiOptions, "collectives");
        Assert.True(job.ExitCode == 0, job.ToString());
        Assert.Contains("collectives on 2 ranks (Open MPI", job.Out);
        Assert.Contains("all checks passed", job.Out);
    }

    [SkippableFact]
    public void Bucketed_gradients_are_the_exact_mean_and_bitwise_repeatable()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        // Shared memory twice, then TCP: the same R gives the same bits every time (and, with 2 ranks, on any transport).
        string args = "bucketer --steps 6 --bucket-bytes 65536 --work 20";
        var runs = new[] { MpiJob.Run(2, "", args), MpiJob.Run(2, "", args), MpiJob.Run(2, Tcp, args) };
        var digests = runs.Select(job =>
        {
            Assert.True(job.ExitCode == 0, job.ToString());
            Assert.Contains("mismatching elements vs local mean: 0", job.Out);
            Assert.Contains("ranks agree: True", job.Out);
            Assert.Matches(@"buckets [2-9]", job.Out);
            return DigestPattern().Match(job.Out).Groups[1].Value;
        }).ToList();
        Assert.Equal(64, digests[0].Length);
        Assert.All(digests, d => Assert.Equal(digests[0], d));
    }

    [SkippableTheory]
    [InlineData("kill", "rank 1: killing myself")]                               // SIGKILL, as the OOM killer would
    [InlineData("fail", "rank 1: data/missing-shard.idx: no such file")]         // reports its reason and calls MPI_Abort
    public void A_rank_that_dies_or_fails_ends_the_job_with_a_non_zero_exit_not_a_hang(string mode, string message)
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        // The other rank is blocked in all-reduces that can never complete.
        var job = MpiJob.Run(2, "", mode, timeoutSeconds: 90);
        Assert.False(job.TimedOut, "the job hung: " + job);
        Assert.NotEqual(0, job.ExitCode);
        Assert.Contains(message, job.Err);
    }

    [Fact]
    public void Without_Open_MPI_the_driver_prints_one_clear_line()
    {
        // Launched as if by mpirun, but the library cannot be found: exit 2 and one line, no stack trace.
        var job = MpiJob.RunAlone("collectives", new Dictionary<string, string>
        {
            ["OMPI_COMM_WORLD_SIZE"] = "1", ["OMPI_COMM_WORLD_RANK"] = "0",
            ["CONVGRAD_MPI_LIBRARY"] = "/nonexistent/libmpi.so.40",
        });
        Assert.True(job.ExitCode == 2, job.ToString());
        string line = job.Err.Trim();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("mpi-driver: Open MPI (/nonexistent/libmpi.so.40) not found: apt-get install openmpi-bin", line);
        Assert.DoesNotContain("   at ", job.Err);
    }

    [SkippableFact]
    public void Two_ranks_follow_one_process_step_by_step()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        // The same global batches, order and per-sample randomness; only the gradient sums' rounding differs
        // (two shard means averaged instead of one batch mean), so the first 50 losses agree to float precision.
        var one = MpiJob.RunAlone("train --epochs 2 --log-steps 50", new Dictionary<string, string>());
        var two = MpiJob.Run(2, "", "train --epochs 2 --log-steps 50");
        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.True(two.ExitCode == 0, two.ToString());
        Assert.Contains("on 1 process", one.Out);
        Assert.Contains("on 2 ranks", two.Out);
        var a = Losses(one.Out);
        var b = Losses(two.Out);
        Assert.Equal(50, a.Count);
        Assert.Equal(50, b.Count);
        Assert.Equal(a[0], b[0]); // before any update, the same loss up to summation order: here exactly equal
        for (int i = 0; i < 50; i++)
        {
            Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * Math.Abs(a[i]), $"step {i}: 1 process {a[i]:R}, 2 ranks {b[i]:R}");
        }
        Assert.True(a[49] < a[0] - 0.1, $"the loss did not fall: {a[0]} -> {a[49]}");
    }

    [SkippableFact]
    public void Two_ranks_crash_then_resume_give_the_uninterrupted_weights_bitwise()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        using var dir = new TempFolder();
        CrashAndResume(args => MpiJob.Run(2, "", args, timeoutSeconds: 120), dir.Path, "2 ranks");
    }

    [Fact]
    public void One_process_crash_then_resume_gives_the_uninterrupted_weights_bitwise()
    {
        using var dir = new TempFolder();
        CrashAndResume(args => MpiJob.RunAlone(args, new Dictionary<string, string>()), dir.Path, "1 process");
    }

    /// <summary>
    /// 3 epochs of 32 steps uninterrupted; then a run killed in step 41 (epoch 2) with a checkpoint after epoch 1;
    /// then <c>--resume</c>: the final weights' digests must be equal.
    /// </summary>
    private static void CrashAndResume(Func<string, MpiJob.Result> run, string outDir, string what)
    {
        var full = run("train --epochs 3 --log-steps 0");
        Assert.True(full.ExitCode == 0, full.ToString());
        var crashed = run($"train --epochs 3 --log-steps 0 --out {outDir} --crash-after-step 40");
        Assert.False(crashed.TimedOut, "the crashed run hung: " + crashed);
        Assert.NotEqual(0, crashed.ExitCode);
        Assert.Contains("crashing after step 40", crashed.Err);
        Assert.Contains("epoch 1/3", crashed.Out);
        Assert.DoesNotContain("epoch 2/3", crashed.Out);
        var resumed = run($"train --epochs 3 --log-steps 0 --out {outDir} --resume 1");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("resumed from checkpoint of toy-mlp after epoch 1", resumed.Out);
        Assert.Contains($"epoch 3/3 on {what}", resumed.Out);
        string expected = DigestPattern().Match(full.Out).Groups[1].Value;
        Assert.Equal(64, expected.Length);
        Assert.Equal(expected, DigestPattern().Match(resumed.Out).Groups[1].Value);
    }

    private static List<double> Losses(string output) => LossPattern().Matches(output)
        .Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    private sealed class TempFolder : IDisposable
    {
        private readonly DirectoryInfo _dir = Cli.TempDir();

        public string Path => System.IO.Path.Combine(_dir.FullName, "run");

        public void Dispose() => _dir.Delete(recursive: true);
    }

    [GeneratedRegex(@"step \d+ loss (\S+)")]
    private static partial Regex LossPattern();

    [GeneratedRegex("digest ([0-9A-F]+)")]
    private static partial Regex DigestPattern();
}
