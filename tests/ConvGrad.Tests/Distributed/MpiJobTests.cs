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

    [SkippableFact]
    public void A_killed_rank_ends_the_job_with_a_non_zero_exit_not_a_hang()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        var job = MpiJob.Run(2, "", "kill", timeoutSeconds: 90);
        Assert.False(job.TimedOut, "the job hung after a rank was killed: " + job);
        Assert.NotEqual(0, job.ExitCode);
        Assert.Contains("rank 1: killing myself", job.Err);
    }

    [SkippableFact]
    public void A_rank_that_cannot_read_its_data_fails_the_job_with_its_message()
    {
        Skip.If(MpiJob.Unavailable is not null, MpiJob.Unavailable);
        var job = MpiJob.Run(2, "", "fail", timeoutSeconds: 90);
        Assert.False(job.TimedOut, "the job hung after a rank failed: " + job);
        Assert.NotEqual(0, job.ExitCode);
        Assert.Contains("rank 1: data/missing-shard.idx: no such file", job.Err);
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

    [GeneratedRegex("digest ([0-9A-F]+)")]
    private static partial Regex DigestPattern();
}
