using ConvGrad.Data;
using ConvGrad.Distributed;
using ConvGrad.Tests.Distributed;

namespace ConvGrad.Tests.Data;

/// <summary>The data loader: keyed shuffles, keyed transforms, sharding and prefetch that change no bit.</summary>
public sealed class DataLoaderTests
{
    private static readonly ImageSet Small = TestDigits.All.Slice(0, 203);

    private static IImageTransform[] Augment => [new RandomCrop(2), new RandomHorizontalFlip(), new RandomShift(1)];

    /// <summary>Every batch of an epoch: (dataset positions, labels, pixels).</summary>
    private static List<(int[] Indices, int[] Labels, float[] Pixels)> Epoch(DataLoader loader, int epoch) =>
        loader.Epoch(epoch).Select(b => (b.IndexArray.ToArray(), b.LabelArray.ToArray(), b.Images?.ToArray() ?? [])).ToList();

    [Fact]
    public void Shuffle_VisitsEverySampleOncePerEpoch_KeyedBySeedAndEpoch()
    {
        using var loader = new DataLoader(Small, 32, Normalization.Mnist, shuffle: true, seed: 5);
        Assert.Equal(7, loader.BatchesPerEpoch);
        var e0 = Epoch(loader, 0).SelectMany(b => b.Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, Small.Count), e0.Order());
        Assert.NotEqual(Enumerable.Range(0, Small.Count), e0);
        Assert.Equal(e0, Epoch(loader, 0).SelectMany(b => b.Indices));
        Assert.NotEqual(e0, Epoch(loader, 1).SelectMany(b => b.Indices));
        Assert.Equal(SampleRandom.EpochOrder(Small.Count, 5, 1), Epoch(loader, 1).SelectMany(b => b.Indices));
        Assert.All(Epoch(loader, 0), b => Assert.Equal(b.Indices.Select(Small.Label), b.Labels));
    }

    [Fact]
    public void Prefetch_ChangesNoBit()
    {
        using var a = new DataLoader(Small, 32, Normalization.Mnist, shuffle: true, seed: 9, transforms: Augment, prefetch: true);
        using var b = new DataLoader(Small, 32, Normalization.Mnist, shuffle: true, seed: 9, transforms: Augment, prefetch: false);
        var pa = Epoch(a, 3);
        var pb = Epoch(b, 3);
        Assert.Equal(pb.Count, pa.Count);
        for (int i = 0; i < pa.Count; i++)
        {
            Assert.Equal(pb[i].Indices, pa[i].Indices);
            Assert.Equal(pb[i].Pixels, pa[i].Pixels);
        }
    }

    [Fact]
    public void ASampleIsTransformedTheSame_InAnyBatchSize_AndDifferentlyInAnotherEpoch()
    {
        using var big = new DataLoader(Small, 64, Normalization.Mnist, shuffle: true, seed: 2, transforms: Augment);
        using var small = new DataLoader(Small, 7, Normalization.Mnist, shuffle: true, seed: 2, transforms: Augment);
        Dictionary<int, float[]> BySample(DataLoader l, int epoch) => Epoch(l, epoch)
            .SelectMany(b => b.Indices.Select((k, i) => (k, b.Pixels.AsSpan(i * 784, 784).ToArray()))).ToDictionary(p => p.k, p => p.Item2);
        var x = BySample(big, 4);
        var y = BySample(small, 4);
        Assert.All(x, kv => Assert.Equal(kv.Value, y[kv.Key]));
        var other = BySample(big, 5);
        Assert.True(x.Count(kv => !kv.Value.SequenceEqual(other[kv.Key])) > Small.Count / 2);
    }

    [Fact]
    public void TheRanksShards_ConcatenateToTheOneProcessBatches_Bitwise()
    {
        using var one = new DataLoader(Small, 50, Normalization.Mnist, shuffle: true, seed: 3, transforms: Augment);
        var whole = Epoch(one, 2);
        var parts = Enumerable.Range(0, 3).Select(r =>
        {
            using var comm = new LoopbackCommunicator(3) { RankValue = r };
            using var loader = new DataLoader(Small, 50, Normalization.Mnist, shuffle: true, seed: 3, transforms: Augment, communicator: comm);
            return Epoch(loader, 2);
        }).ToList();
        for (int b = 0; b < whole.Count; b++)
        {
            Assert.Equal(whole[b].Indices, parts.SelectMany(p => p[b].Indices));
            Assert.Equal(whole[b].Pixels, parts.SelectMany(p => p[b].Pixels));
        }
    }

    [Fact]
    public void Normalization_IsPerChannel_AndComputedFromTheTrainingSet()
    {
        // Two 1x2 RGB images: R = 0 and 255, G = 51 everywhere, B = 255 and 0.
        var set = new ImageSet([0, 255, 51, 51, 255, 0, 255, 0, 51, 51, 0, 255], [0, 1], new ImageShape(3, 1, 2), ["a", "b"]);
        var n = Normalization.Compute(set);
        Assert.Equal([0.5, 0.2, 0.5], n.Mean);
        Assert.Equal([0.5, 1, 0.5], n.Std);   // a constant channel keeps std 1
        using var loader = new DataLoader(set, 2, n);
        var x = loader.Epoch(0).Single().Images!.ToArray();
        Assert.Equal([-1f, 1f, 0f, 0f, 1f, -1f, 1f, -1f, 0f, 0f, -1f, 1f], x);
    }

    [Fact]
    public void Loader_RefusesANormalizationOfAnotherChannelCount()
    {
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(Small, 8, new Normalization([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])));
        Assert.Equal("normalization", e.ParamName);
    }
}
