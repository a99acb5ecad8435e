using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>
/// All-reduce (sum, average, min, max; float, double, int, long), broadcast and the non-blocking all-reduce, each
/// compared with the value every rank can compute for itself from the closed form of what the ranks contributed.
/// </summary>
internal static class Collectives
{
    public static bool Run(Communicator comm)
    {
        int r = comm.Rank, n = comm.Size;
        var failures = new List<string>();
        void Expect(bool condition, string what)
        {
            if (!condition)
            {
                failures.Add(what);
            }
        }

        var launch = MpiLaunch.FromEnvironment()!;
        Expect(launch.Rank == r && launch.Size == n, $"environment says rank {launch.Rank}/{launch.Size}, MPI says {r}/{n}");
        Expect(comm.LocalSize >= 1 && comm.LocalRank < comm.LocalSize, $"local rank {comm.LocalRank} of {comm.LocalSize}");

        // Sums of small integers are exact in every type, so the results must match exactly.
        const int length = 1000;
        var f = new float[length];
        var d = new double[length];
        var i32 = new int[length];
        var i64 = new long[length];
        for (int k = 0; k < length; k++)
        {
            f[k] = r + k;
            d[k] = (r + 1) * 0.5 + k;
            i32[k] = r * k;
            i64[k] = (1L << 40) + r;
        }
        comm.AllReduceSum<float>(f);
        comm.AllReduceSum<double>(d);
        comm.AllReduceSum<int>(i32);
        comm.AllReduceSum<long>(i64);
        long rankSum = (long)n * (n - 1) / 2;
        for (int k = 0; k < length; k++)
        {
            Expect(f[k] == rankSum + (long)n * k, $"float sum [{k}] = {f[k]}");
            Expect(d[k] == (rankSum + n) * 0.5 + (double)n * k, $"double sum [{k}] = {d[k]}");
            Expect(i32[k] == rankSum * k, $"int sum [{k}] = {i32[k]}");
            Expect(i64[k] == n * (1L << 40) + rankSum, $"long sum [{k}] = {i64[k]}");
        }

        var avg = new float[] { r, 2 * r, 4 };
        comm.AllReduceAverage(avg);
        Expect(avg[0] == (float)rankSum / n && avg[1] == 2f * rankSum / n && avg[2] == 4, $"float average = {string.Join(", ", avg)}");
        var avgD = new double[] { r * 3.0 };
        comm.AllReduceAverage(avgD);
        Expect(avgD[0] == 3.0 * rankSum / n, $"double average = {avgD[0]}");

        var extremes = new double[] { r, -r };
        comm.AllReduce<double>(extremes, ReduceOperation.Max);
        Expect(extremes[0] == n - 1 && extremes[1] == 0, $"max = {extremes[0]}, {extremes[1]}");
        var low = new long[] { r + 10 };
        comm.AllReduce<long>(low, ReduceOperation.Min);
        Expect(low[0] == 10, $"min = {low[0]}");
        Expect(comm.AllReduceSum(1L) == n, "count of ranks");
        Expect(comm.AllReduceSum(0.25) == 0.25 * n, "scalar double sum");

        int root = n - 1;
        var bytes = new byte[3001];
        var seeds = new ulong[4];
        if (r == root)
        {
            for (int k = 0; k < bytes.Length; k++)
            {
                bytes[k] = (byte)(k * 7 + 1);
            }
            seeds[0] = 0xDEADBEEFCAFEF00D;
            seeds[3] = 42;
        }
        comm.Broadcast<byte>(bytes, root);
        comm.Broadcast<ulong>(seeds, root);
        Expect(bytes.Select((b, k) => b == (byte)(k * 7 + 1)).All(x => x), "broadcast bytes");
        Expect(seeds[0] == 0xDEADBEEFCAFEF00D && seeds[3] == 42 && seeds[1] == 0, "broadcast ulongs");

        // Non-blocking: start a reduction, compute while polling it, then wait; the compute's result and the
        // reduction's must both be right.
        using (var buffer = new PinnedBuffer<float>(225_000))
        {
            var span = buffer.Span;
            for (int k = 0; k < span.Length; k++)
            {
                span[k] = (k % 1000) + r;
            }
            var request = comm.IAllReduceSum(buffer, 1000, span.Length - 2000);
            double work = 0;
            int polls = 0;
            for (int step = 0; step < 200; step++)
            {
                for (int k = 1; k < 20_000; k++)
                {
                    work += 1.0 / k;
                }
                polls++;
                if (request.Test())
                {
                    break;
                }
            }
            request.Wait();
            Expect(request.IsCompleted, "request completed after Wait");
            Expect(work > 0 && polls > 0, "compute ran during the reduction");
            for (int k = 0; k < span.Length; k++)
            {
                bool inside = k >= 1000 && k < span.Length - 1000;
                float expected = inside ? n * (k % 1000) + rankSum : (k % 1000) + r;
                if (span[k] != expected)
                {
                    Expect(false, $"non-blocking sum [{k}] = {span[k]}, expected {expected}");
                    break;
                }
            }
        }

        comm.Barrier();
        long failed = comm.AllReduceSum((long)failures.Count);
        foreach (var f1 in failures.Take(5))
        {
            Console.Error.WriteLine($"rank {r}: {f1}");
        }
        if (comm.IsRoot)
        {
            Console.WriteLine($"collectives on {comm.Description}: {(failed == 0 ? "all checks passed" : $"{failed} checks failed")}");
        }
        return failed == 0;
    }
}
