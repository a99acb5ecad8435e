using ConvGrad.Distributed;

namespace ConvGrad.Tests.Distributed;

/// <summary>The single-process communicator, launch detection and the MPI loader's errors (no MPI job needed).</summary>
public class CommunicatorTests
{
    [Fact]
    public void Single_process_is_rank_0_of_1_and_reductions_keep_values()
    {
        using var comm = Communicator.Create(distributed: false);
        Assert.IsType<SingleProcessCommunicator>(comm);
        Assert.Equal((0, 1, 0, 1), (comm.Rank, comm.Size, comm.LocalRank, comm.LocalSize));
        Assert.True(comm.IsRoot);
        float[] f = [1.5f, -2, float.Epsilon];
        double[] d = [Math.PI, -0.0];
        int[] i = [7, int.MinValue];
        long[] l = [long.MaxValue, 3];
        comm.AllReduceSum<float>(f);
        comm.AllReduceSum<double>(d);
        comm.AllReduce<int>(i, ReduceOperation.Max);
        comm.AllReduce<long>(l, ReduceOperation.Min);
        comm.AllReduceAverage(f);
        comm.AllReduceAverage(d);
        Assert.Equal([1.5f, -2, float.Epsilon], f);
        Assert.Equal(BitConverter.DoubleToInt64Bits(-0.0), BitConverter.DoubleToInt64Bits(d[1]));
        Assert.Equal([7, int.MinValue], i);
        Assert.Equal([long.MaxValue, 3], l);
        Assert.Equal(41L, comm.AllReduceSum(41L));
        Assert.Equal(0.1, comm.AllReduceSum(0.1));
        byte[] b = [1, 2, 3];
        comm.Broadcast<byte>(b, 0);
        Assert.Equal([1, 2, 3], b);
        comm.Barrier();
    }

    [Fact]
    public void Non_blocking_reduction_of_one_process_is_complete_at_once()
    {
        using var comm = new SingleProcessCommunicator();
        using var buffer = new PinnedBuffer<float>(10);
        buffer.Span.Fill(2.5f);
        var request = comm.IAllReduceSum(buffer, 3, 4);
        Assert.True(request.IsCompleted);
        Assert.True(request.Test());
        request.Wait();
        Assert.All(buffer.Span.ToArray(), v => Assert.Equal(2.5f, v));
    }

    [Fact]
    public void Invalid_arguments_are_refused_with_the_values()
    {
        using var comm = new SingleProcessCommunicator();
        using var buffer = new PinnedBuffer<double>(8);
        var e = Assert.Throws<ArgumentException>(() => comm.IAllReduceSum(buffer, 5, 4));
        Assert.Contains("start 5, count 4", e.Message);
        Assert.Throws<ArgumentException>(() => comm.IAllReduceSum(buffer, -1, 1));
        e = Assert.Throws<ArgumentException>(() => comm.AllReduceSum<short>(new short[2]));
        Assert.Contains("Int16", e.Message);
        e = Assert.Throws<ArgumentException>(() => comm.Broadcast<byte>(new byte[1], 1));
        Assert.Contains("got 1", e.Message);
        Assert.Throws<ArgumentException>(() => new PinnedBuffer<float>(-1));
    }

    [Fact]
    public void Pinned_buffer_is_zeroed_aligned_and_refuses_use_after_dispose()
    {
        var buffer = new PinnedBuffer<float>(1001);
        unsafe
        {
            Assert.Equal(0, (long)buffer.Pointer % 64);
        }
        Assert.All(buffer.Span.ToArray(), v => Assert.Equal(0f, v));
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
        buffer.Dispose();
    }

    [Fact]
    public void Launch_is_read_from_Open_MPI_variables()
    {
        var env = new Dictionary<string, string>
        {
            ["OMPI_COMM_WORLD_SIZE"] = "4", ["OMPI_COMM_WORLD_RANK"] = "3",
            ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2", ["OMPI_COMM_WORLD_LOCAL_RANK"] = "1",
        };
        var launch = MpiLaunch.From(env.GetValueOrDefault);
        Assert.Equal(new MpiLaunch(3, 4, 1, 2), launch);
        Assert.Equal(1, launch!.ThreadsPerRank(2));
        Assert.Equal(8, launch.ThreadsPerRank(16));
        Assert.Equal(1, launch.ThreadsPerRank(1));
        Assert.Null(MpiLaunch.From(_ => null));

        env["OMPI_COMM_WORLD_RANK"] = "4";
        var e = Assert.Throws<MpiUnavailableException>(() => MpiLaunch.From(env.GetValueOrDefault));
        Assert.Contains("rank 4 of 4", e.Message);
        env["OMPI_COMM_WORLD_RANK"] = "x";
        Assert.Contains("OMPI_COMM_WORLD_RANK=x", Assert.Throws<MpiUnavailableException>(() => MpiLaunch.From(env.GetValueOrDefault)).Message);
    }

    [Fact]
    public void Ranks_on_a_machine_take_its_devices_in_turn()
    {
        Assert.Equal(0, new SingleProcessCommunicator().DeviceIndex(4));
        Assert.Equal([0, 1, 2, 0], Enumerable.Range(0, 4).Select(r => new LoopbackCommunicator(4) { LocalRankValue = r }.DeviceIndex(3)));
        Assert.Equal(1, new LoopbackCommunicator(2) { LocalRankValue = 1 }.DeviceIndex(8));
        Assert.Contains("got 0", Assert.Throws<ArgumentException>(() => new SingleProcessCommunicator().DeviceIndex(0)).Message);
    }

    [SkippableFact]
    public void Distributed_without_mpirun_says_how_to_launch()
    {
        Skip.If(MpiLaunch.FromEnvironment() is not null, "the tests themselves run under mpirun");
        var e = Assert.Throws<MpiUnavailableException>(() => Communicator.Create(distributed: true));
        Assert.Contains("mpirun -np 2", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Missing_MPI_library_gives_one_line_naming_the_package()
    {
        var e = Assert.Throws<MpiUnavailableException>(() => MpiCommunicator.Initialize(library: "/nonexistent/libmpi.so.40"));
        Assert.StartsWith("Open MPI (/nonexistent/libmpi.so.40) not found: apt-get install openmpi-bin", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.IsAssignableFrom<NotSupportedException>(e);
    }

    [Fact]
    public void A_library_that_is_not_Open_MPI_is_called_incompatible()
    {
        var e = Assert.Throws<MpiUnavailableException>(() => MpiCommunicator.Initialize(library: "libc.so.6"));
        Assert.Contains("libc.so.6 is not a compatible Open MPI (it lacks 'ompi_mpi_comm_world')", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
