using System.Diagnostics;
using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>Times blocking and non-blocking all-reduce of a float buffer; rank 0 prints a Markdown table row.</summary>
internal static class Bench
{
    public static bool Run(Communicator comm, Options options)
    {
        int floats = (int)options.Long("floats", 225_000);
        int reps = (int)options.Long("reps", 200);
        string label = options.String("label") ?? "";
        var values = new float[floats];
        using var pinned = new PinnedBuffer<float>(floats);
        for (int w = 0; w < 10; w++)
        {
            comm.AllReduceSum<float>(values);
            comm.IAllReduceSum(pinned, 0, floats).Wait();
        }
        double blocking = Time(comm, reps, () => comm.AllReduceSum<float>(values));
        double nonBlocking = Time(comm, reps, () => comm.IAllReduceSum(pinned, 0, floats).Wait());
        if (comm.IsRoot)
        {
            double mb = floats * 4.0 / 1e6;
            Console.WriteLine($"| {label} | {comm.Size} | {floats:N0} | {1e6 * blocking:F0} | {1e6 * nonBlocking:F0} | {mb / blocking / 1e3:F2} |");
        }
        return true;
    }

    /// <summary>The median over repetitions of the slowest rank's time.</summary>
    private static double Time(Communicator comm, int reps, Action op)
    {
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            comm.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            op();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        comm.AllReduce<double>(times, ReduceOperation.Max);
        Array.Sort(times);
        return times[reps / 2];
    }
}
