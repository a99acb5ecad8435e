using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>Failures the job must survive by ending, not hanging.</summary>
internal static class Faults
{
    /// <summary>
    /// The last rank kills itself (SIGKILL, as the OOM killer would) while the others block in all-reduces that can
    /// never complete; mpirun must end the job with a non-zero exit.
    /// </summary>
    public static bool Kill(Communicator comm)
    {
        comm.Barrier();
        if (comm.Rank == comm.Size - 1)
        {
            Console.Error.WriteLine($"rank {comm.Rank}: killing myself");
            Console.Error.Flush();
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        }
        var values = new float[1000];
        while (true)
        {
            comm.AllReduceSum<float>(values);
        }
    }

    /// <summary>The last rank cannot read its data: it reports why and the whole job ends with a non-zero exit.</summary>
    public static bool Fail(Communicator comm)
    {
        comm.Barrier();
        if (comm.Rank == comm.Size - 1)
        {
            throw new InvalidDataException("data/missing-shard.idx: no such file");
        }
        var values = new float[1000];
        while (true)
        {
            comm.AllReduceSum<float>(values);
        }
    }
}
