using System.Diagnostics;
using System.Security.Cryptography;
using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>
/// A synthetic training loop through <see cref="GradientBucketer{T}"/>: gradients of LeNet-like sizes, keyed by
/// (step, rank, parameter) so every rank can compute every other rank's; marked ready last parameter first with
/// compute between them, as backward does; applied to weights by SGD. Checks each step's reduced gradient against
/// the mean computed locally (bitwise with 2 ranks), checks that all ranks hold the same weights, and prints a
/// SHA-256 digest of the final weights so two runs can be compared bit for bit.
/// </summary>
internal static class BucketerRun
{
    // conv1, conv2, fc1, fc2, fc3 (weight, bias), scaled up so a step moves ~225k floats like the CLI's model.
    private static readonly int[] Lengths = [150, 6, 2400, 16, 192_000, 120, 30_240, 84, 840, 10];

    public static bool Run(Communicator comm, Options options)
    {
        int steps = (int)options.Long("steps", 20);
        long bucketBytes = options.Long("bucket-bytes", 256 << 10);
        ulong seed = (ulong)options.Long("seed", 7);
        int work = (int)options.Long("work", 200);
        int r = comm.Rank, n = comm.Size;
        using var bucketer = new GradientBucketer<float>(comm, Lengths, bucketBytes);
        var weights = Lengths.Select(len => new float[len]).ToArray();
        var grads = Lengths.Select(len => new float[len]).ToArray();
        var reduced = Lengths.Select(len => new float[len]).ToArray();
        var expected = Lengths.Select(len => new float[len]).ToArray();
        long mismatches = 0;
        double worst = 0;
        double sink = 0;
        var waitPerStep = new List<double>();
        var inFlightPerStep = new List<double>();
        for (int step = 0; step < steps; step++)
        {
            var before = bucketer.Stats;
            if (step == 2)
            {
                bucketer.ResetStats(); // the first steps include JIT and connection set-up
            }
            for (int i = Lengths.Length - 1; i >= 0; i--)
            {
                Fill(grads[i], seed, step, r, i);
                sink += Compute(work * (Lengths[i] / 1000 + 1)); // the rest of this layer's backward
                bucketer.MarkReady(i, grads[i]);
            }
            bucketer.Finish(i => reduced[i]);
            var after = bucketer.Stats;
            if (step >= 2)
            {
                waitPerStep.Add(after.WaitSeconds - before.WaitSeconds);
                inFlightPerStep.Add(after.InFlightSeconds - before.InFlightSeconds);
            }
            for (int i = 0; i < Lengths.Length; i++)
            {
                // The expected mean: ranks' gradients summed in rank order, then divided by the rank count.
                Array.Clear(expected[i]);
                for (int q = 0; q < n; q++)
                {
                    Fill(grads[i], seed, step, q, i);
                    for (int k = 0; k < grads[i].Length; k++)
                    {
                        expected[i][k] += grads[i][k];
                    }
                }
                for (int k = 0; k < expected[i].Length; k++)
                {
                    float e = expected[i][k] / n;
                    if (BitConverter.SingleToInt32Bits(e) != BitConverter.SingleToInt32Bits(reduced[i][k]))
                    {
                        mismatches++;
                        worst = Math.Max(worst, Math.Abs(e - reduced[i][k]) / Math.Max(1e-30, Math.Abs(e)));
                    }
                    weights[i][k] -= 0.01f * reduced[i][k];
                }
            }
        }

        // Every rank must hold the same weights: compare digests through MIN and MAX reductions.
        byte[] digest = Digest(weights);
        long head = BitConverter.ToInt64(digest, 0);
        Span<long> lowHigh = [head, -head];
        comm.AllReduce(lowHigh[..1], ReduceOperation.Min);
        comm.AllReduce(lowHigh[1..], ReduceOperation.Min);
        bool ranksAgree = lowHigh[0] == head && -lowHigh[1] == head;
        long ranksDisagree = comm.AllReduceSum(ranksAgree ? 0L : 1L);
        long totalMismatches = comm.AllReduceSum(mismatches);
        // With 2 ranks g₀ + g₁ is one rounding whichever way it is added, so the mean must match bit for bit;
        // with more ranks MPI may add in another order than rank order.
        bool exact = n <= 2;
        bool within = comm.AllReduceSum(worst > 1e-5 ? 1L : 0L) == 0;
        bool ok = ranksDisagree == 0 && (exact ? totalMismatches == 0 : within);

        var stats = bucketer.Stats;
        double blocking = BlockingSeconds(comm, bucketer, 30);
        double medianWait = Median(waitPerStep), medianInFlight = Median(inFlightPerStep);
        if (comm.IsRoot)
        {
            Console.WriteLine($"ranks {n}, buckets {bucketer.BucketCount} ({string.Join(", ", Enumerable.Range(0, bucketer.BucketCount).Select(bucketer.BucketLength))} floats), steps {steps}");
            Console.WriteLine($"mismatching elements vs local mean: {totalMismatches} ({(exact ? "must be 0" : $"worst relative {worst:G3}")}); ranks agree: {ranksDisagree == 0}");
            Console.WriteLine($"overlap (rank 0, mean of steps 3..{steps}): in flight {1e3 * stats.InFlightSeconds / Math.Max(1, stats.Steps):F3} ms/step, " +
                              $"waited {1e3 * stats.WaitSecondsPerStep:F3} ms/step, hidden {100 * stats.HiddenShare:F1}%");
            Console.WriteLine($"overlap (rank 0, median step): in flight {1e3 * medianInFlight:F3} ms, waited {1e3 * medianWait:F3} ms, " +
                              $"hidden {100 * (medianInFlight > 0 ? Math.Clamp(1 - medianWait / medianInFlight, 0, 1) : 0):F1}%; " +
                              $"blocking all-reduce of the same buckets (median) {1e3 * blocking:F3} ms, hidden vs blocking {100 * Math.Clamp(1 - medianWait / blocking, 0, 1):F1}%");
            Console.WriteLine($"digest {Convert.ToHexString(digest)}");
            Console.WriteLine(ok ? "bucketer: all checks passed" : "bucketer: checks FAILED");
        }
        GC.KeepAlive(sink);
        return ok;
    }

    /// <summary>Gradient values of (step, rank, parameter) with varied magnitudes, so rounding matters.</summary>
    private static void Fill(float[] g, ulong seed, int step, int rank, int parameter)
    {
        var rng = new SampleRandom(seed, step, ((long)rank << 32) | (uint)parameter);
        for (int k = 0; k < g.Length; k++)
        {
            g[k] = (2 * rng.NextSingle() - 1) * MathF.ScaleB(1f, rng.NextInt(-8, 2));
        }
    }

    private static double Compute(int iterations)
    {
        double s = 0;
        for (int k = 1; k <= iterations * 100; k++)
        {
            s += 1.0 / k;
        }
        return s;
    }

    /// <summary>Median seconds per step (slowest rank) of blocking all-reduces of buffers the sizes of the buckets.</summary>
    private static double BlockingSeconds(Communicator comm, GradientBucketer<float> bucketer, int reps)
    {
        var buffers = Enumerable.Range(0, bucketer.BucketCount).Select(b => new float[bucketer.BucketLength(b)]).ToArray();
        var times = new double[reps];
        for (int rep = 0; rep < reps; rep++)
        {
            comm.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            foreach (var b in buffers)
            {
                comm.AllReduceSum<float>(b);
            }
            times[rep] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        comm.AllReduce<double>(times, ReduceOperation.Max);
        return Median(times);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }

    private static byte[] Digest(float[][] weights)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var w in weights)
        {
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.AsSpan()));
        }
        return sha.GetHashAndReset();
    }
}
