using ConvGrad.Distributed;
using CsCheck;

namespace ConvGrad.Tests.Distributed;

public class ShardingTests
{
    [Fact]
    public void Shards_of_ranks_in_order_are_the_batch_in_its_1_process_order()
    {
        Gen.Select(Gen.Int[0, 1000], Gen.Int[1, 17]).Sample((total, size) =>
        {
            var shards = Enumerable.Range(0, size).Select(r => Shard.Of(total, r, size)).ToList();
            Assert.Equal(0, shards[0].Start);
            for (int r = 1; r < size; r++)
            {
                Assert.Equal(shards[r - 1].End, shards[r].Start);
            }
            Assert.Equal(total, shards[^1].End);
            Assert.True(shards.Max(s => s.Count) - shards.Min(s => s.Count) <= 1);
            Assert.Equal(total > 0 ? 1.0 : 0.0, shards.Sum(s => s.Weight(total)), 12); // an empty batch weighs nothing
        });
        Assert.Equal(0, Shard.Of(0, 1, 3).Weight(0));
        Assert.Equal(new Shard(0, 3), Shard.Of(5, 0, 2));
        Assert.Equal(new Shard(3, 2), Shard.Of(5, 1, 2));
        Assert.Throws<ArgumentException>(() => Shard.Of(5, 2, 2));
        Assert.Throws<ArgumentException>(() => Shard.Of(-1, 0, 1));
    }

    [Fact]
    public void Sample_streams_depend_only_on_their_key()
    {
        ulong[] Draw(SampleRandom r) => Enumerable.Range(0, 8).Select(_ => r.NextUInt64()).ToArray();
        Assert.Equal(Draw(new SampleRandom(42, 3, 1234)), Draw(new SampleRandom(42, 3, 1234)));
        var first = Draw(new SampleRandom(42, 3, 1234))[0];
        Assert.NotEqual(first, Draw(new SampleRandom(43, 3, 1234))[0]);
        Assert.NotEqual(first, Draw(new SampleRandom(42, 4, 1234))[0]);
        Assert.NotEqual(first, Draw(new SampleRandom(42, 3, 1235))[0]);
        // Swapping epoch and sample index must give another stream.
        Assert.NotEqual(Draw(new SampleRandom(1, 2, 3))[0], Draw(new SampleRandom(1, 3, 2))[0]);
    }

    [Fact]
    public void A_stream_resumes_from_its_state()
    {
        var a = new SampleRandom(9, 1, 77);
        a.NextDouble();
        a.NextInt(5);
        var b = SampleRandom.FromState(a.State);
        Assert.Equal(Enumerable.Range(0, 5).Select(_ => a.NextUInt64()), Enumerable.Range(0, 5).Select(_ => b.NextUInt64()));
    }

    [Fact]
    public void Draws_lie_in_their_ranges_and_are_roughly_uniform()
    {
        var rng = new SampleRandom(5, 0, 0);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++)
        {
            int shift = rng.NextInt(-3, 3);
            Assert.InRange(shift, -3, 3);
            counts[shift + 3]++;
            double u = rng.NextDouble();
            Assert.InRange(u, 0, 0.9999999999999999);
            float f = rng.NextSingle();
            Assert.True(f is >= 0 and < 1);
        }
        // 10,000 expected per value; a fair die stays within 5 standard deviations (~470).
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
        Assert.Throws<ArgumentException>(() => rng.NextInt(0));
        Assert.Throws<ArgumentException>(() => rng.NextInt(2, 1));
    }

    [Fact]
    public void Epoch_order_is_a_permutation_fixed_by_seed_and_epoch()
    {
        var order = SampleRandom.EpochOrder(1000, 7, 2);
        Assert.Equal(Enumerable.Range(0, 1000), order.Order());
        Assert.Equal(order, SampleRandom.EpochOrder(1000, 7, 2));
        Assert.NotEqual(order, SampleRandom.EpochOrder(1000, 7, 3));
        Assert.NotEqual(order, SampleRandom.EpochOrder(1000, 8, 2));
        Assert.Empty(SampleRandom.EpochOrder(0, 1, 1));
    }

    [Fact]
    public void Evaluation_counts_add_up_over_ranks()
    {
        var counts = new EvaluationCounts(Correct: 90, Total: 100, LossSum: 12.5);
        Assert.Equal(counts, counts.AllReduce(new SingleProcessCommunicator()));
        var three = counts.AllReduce(new LoopbackCommunicator(3));
        Assert.Equal((270L, 300L, 37.5), (three.Correct, three.Total, three.LossSum));
        Assert.Equal(0.9, three.Accuracy);
        Assert.Equal(0.125, three.MeanLoss);
        Assert.Equal(0, default(EvaluationCounts).Accuracy);
    }
}
