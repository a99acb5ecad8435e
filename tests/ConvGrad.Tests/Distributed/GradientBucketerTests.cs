using ConvGrad.Distributed;
using CsCheck;

namespace ConvGrad.Tests.Distributed;

public class GradientBucketerTests
{
    [Fact]
    public void Buckets_fill_in_reverse_registration_order_and_close_at_the_size()
    {
        using var comm = new SingleProcessCommunicator();
        // 4-byte floats, 400-byte buckets: capacity 100 elements.
        using var b = new GradientBucketer<float>(comm, [30, 50, 300, 40, 70, 20], bucketBytes: 400);
        // From the last: 20 + 70 + 40 = 130 >= 100 closes; 300 alone; 50 + 30.
        Assert.Equal(3, b.BucketCount);
        Assert.Equal([5, 4, 3], b.BucketMembers(0));
        Assert.Equal([2], b.BucketMembers(1));
        Assert.Equal([1, 0], b.BucketMembers(2));
        Assert.Equal([130, 300, 80], Enumerable.Range(0, 3).Select(b.BucketLength));
        Assert.Equal(0, b.BucketOf(5));
        Assert.Equal(2, b.BucketOf(0));
    }

    [Fact]
    public void Layout_covers_every_gradient_once_in_reverse_order()
    {
        Gen.Select(Gen.Int[0, 500].Array[0, 12], Gen.Long[4, 2400]).Sample((lengths, bytes) =>
        {
            using var comm = new SingleProcessCommunicator();
            using var b = new GradientBucketer<float>(comm, lengths, bytes);
            var order = Enumerable.Range(0, b.BucketCount).SelectMany(b.BucketMembers).ToList();
            Assert.Equal(Enumerable.Range(0, lengths.Length).Reverse(), order);
            for (int k = 0; k < b.BucketCount; k++)
            {
                Assert.Equal(b.BucketMembers(k).Sum(i => lengths[i]), b.BucketLength(k));
                // A bucket only closes once it holds at least the capacity (the last one may hold less).
                if (k < b.BucketCount - 1)
                {
                    Assert.True(b.BucketLength(k) >= bytes / 4, $"bucket {k} has {b.BucketLength(k)} < {bytes / 4}");
                }
            }
        });
    }

    [Fact]
    public void Average_over_ranks_of_equal_gradients_gives_them_back_bitwise()
    {
        // Three loopback ranks holding the same gradient: (g + g + g) / 3 can differ from g by rounding, so the check
        // is against the same arithmetic done here; two ranks: (g + g) / 2 == g exactly.
        foreach (int size in new[] { 2, 3 })
        {
            var comm = new LoopbackCommunicator(size);
            int[] lengths = [17, 5, 64, 3];
            using var b = new GradientBucketer<float>(comm, lengths, bucketBytes: 128);
            var rng = new SampleRandom(1, 2, 3);
            var grads = lengths.Select(n => Enumerable.Range(0, n).Select(_ => rng.NextSingle() * 10 - 5).ToArray()).ToArray();
            var outs = lengths.Select(n => new float[n]).ToArray();
            for (int step = 0; step < 3; step++)
            {
                for (int i = lengths.Length - 1; i >= 0; i--)
                {
                    b.MarkReady(i, grads[i]);
                }
                b.Finish(i => outs[i]);
                for (int i = 0; i < lengths.Length; i++)
                {
                    var expected = grads[i].Select(g =>
                    {
                        float s = g;
                        for (int r = 1; r < size; r++)
                        {
                            s += g;
                        }
                        return s / size;
                    });
                    Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), outs[i].Select(BitConverter.SingleToInt32Bits));
                    if (size == 2)
                    {
                        Assert.Equal(grads[i], outs[i]);
                    }
                }
            }
            Assert.Equal(3, b.Stats.Steps);
            Assert.Equal(3 * b.BucketCount, b.Stats.Reductions);
        }
    }

    [Fact]
    public void Sum_reduction_does_not_divide()
    {
        var comm = new LoopbackCommunicator(2);
        using var b = new GradientBucketer<double>(comm, [2], reduction: GradientReduction.Sum);
        b.MarkReady(0, [1.5, -3]);
        var result = new double[2];
        b.Finish(_ => result);
        Assert.Equal([3.0, -6.0], result);
    }

    [Fact]
    public void Buckets_start_in_bucket_order_whatever_order_gradients_arrive_in()
    {
        var comm = new LoopbackCommunicator(2);
        int[] lengths = [10, 20, 30, 40];
        using var b = new GradientBucketer<float>(comm, lengths, bucketBytes: 4); // one gradient per bucket
        // Buckets: 0 = {3}, 1 = {2}, 2 = {1}, 3 = {0}. Mark 0 first: its bucket is last, so nothing may start yet.
        b.MarkReady(0, new float[10]);
        Assert.Empty(comm.Started);
        b.MarkReady(2, new float[30]);
        Assert.Empty(comm.Started);
        b.MarkReady(3, new float[40]);
        Assert.Equal([40, 30], comm.Started);
        b.MarkReady(1, new float[20]);
        Assert.Equal([40, 30, 20, 10], comm.Started);
        b.Finish(i => new float[lengths[i]]);
    }

    [Fact]
    public void A_bucket_starts_as_soon_as_its_gradients_are_ready_and_completes_while_backward_runs()
    {
        var comm = new LoopbackCommunicator(2) { PollsToComplete = 2 };
        int[] lengths = [8, 8, 8, 8];
        using var b = new GradientBucketer<float>(comm, lengths, bucketBytes: 64); // two gradients per bucket
        b.MarkReady(3, new float[8]);
        Assert.Empty(comm.Started);
        b.MarkReady(2, new float[8]);
        Assert.Equal([16], comm.Started); // the last two parameters' bucket, started before the rest of backward
        b.MarkReady(1, new float[8]);
        b.Progress();
        b.MarkReady(0, new float[8]);
        b.Finish(i => new float[8]);
        var stats = b.Stats;
        Assert.Equal(2, stats.Reductions);
        Assert.True(stats.InFlightSeconds >= stats.WaitSeconds);
        Assert.InRange(stats.HiddenShare, 0, 1);
    }

    [Fact]
    public void Misuse_is_reported_with_the_indices()
    {
        using var comm = new SingleProcessCommunicator();
        using var b = new GradientBucketer<float>(comm, [3, 4, 5]);
        Assert.Contains("got 3", Assert.Throws<ArgumentException>(() => b.MarkReady(3, new float[1])).Message);
        Assert.Contains("registered with 4", Assert.Throws<ArgumentException>(() => b.MarkReady(1, new float[3])).Message);
        b.MarkReady(1, new float[4]);
        Assert.Contains("already marked", Assert.Throws<InvalidOperationException>(() => b.MarkReady(1, new float[4])).Message);
        var e = Assert.Throws<InvalidOperationException>(() => b.Finish(i => new float[1]));
        Assert.Contains("missing: 0, 2", e.Message);
        Assert.Throws<ArgumentException>(() => new GradientBucketer<float>(comm, [1], bucketBytes: 0));
        Assert.Throws<ArgumentException>(() => new GradientBucketer<float>(comm, [-1]));
        Assert.Throws<ArgumentException>(() => new GradientBucketer<Half>(comm, [1]));
    }
}
