using ConvGrad.Data;
using ConvGrad.Training;

namespace ConvGrad.Tests.Training;

/// <summary>The data of a run as <c>--validation</c> and <c>--train-limit</c> carve it out of a split.</summary>
public sealed class TrainingDataTests
{
    /// <summary>Ten 1×1×1 images whose pixel is 10·i, labels i mod 2; four held out.</summary>
    private static DataSplit Split(Normalization? known = null)
    {
        var train = new ImageSet([.. Enumerable.Range(0, 10).Select(i => (byte)(10 * i))], [.. Enumerable.Range(0, 10).Select(i => i % 2)], new ImageShape(1, 1, 1), ["a", "b"]);
        var test = new ImageSet([1, 2, 3, 4], [0, 1, 0, 1], new ImageShape(1, 1, 1), ["a", "b"]);
        return new DataSplit(train, test, "ten", known);
    }

    private static byte Pixel(IImageDataset set, int i)
    {
        var px = new byte[1];
        set.ReadPixels(i, px);
        return px[0];
    }

    [Fact]
    public void TheValidationSetIsTheLastImages_TheLimitTakesTheFirstOfTheRest_AndTheNormalisationIsTheirs()
    {
        var data = TrainingData.FromSplit(Split(), validation: 3, trainLimit: 4);
        Assert.Equal(new DataSizes(4, 4, 3), data.Sizes);
        Assert.Equal([0, 10, 20, 30], Enumerable.Range(0, 4).Select(i => (int)Pixel(data.Train, i)));
        Assert.Equal([70, 80, 90], Enumerable.Range(0, 3).Select(i => (int)Pixel(data.Validation!, i)));
        Assert.Equal(Normalization.Compute(data.Train), data.Normalization);
        Assert.NotEqual(Normalization.Compute(Split().Train), data.Normalization);

        // A split's known normalisation (MNIST's files) is kept; no limit and no validation take everything.
        var all = TrainingData.FromSplit(Split(Normalization.Mnist));
        Assert.Equal((new DataSizes(10, 4, 0), Normalization.Mnist), (all.Sizes, all.Normalization));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingData.FromSplit(Split(), validation: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingData.FromSplit(Split(), trainLimit: -1));
    }
}
