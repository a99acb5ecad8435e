using ConvGrad.Data;

namespace ConvGrad.Training;

/// <summary>The images a <see cref="TrainingRun"/> trains on, evaluates on after every epoch, and optionally validates on.</summary>
/// <param name="Train">The training set; its shape and classes shape the model.</param>
/// <param name="Test">The held-out set (the same shape).</param>
/// <param name="Normalization">The input normalisation (<see cref="Normalization.Compute"/> of the training set, or the data's known one).</param>
/// <param name="Validation">A validation set (reported beside the held-out accuracy), or null.</param>
public sealed record TrainingData(IImageDataset Train, IImageDataset Test, Normalization Normalization, IImageDataset? Validation = null)
{
    /// <summary>The sizes of the three sets.</summary>
    public DataSizes Sizes => new(Train.Count, Test.Count, Validation?.Count ?? 0);

    /// <summary>
    /// The data of <paramref name="split"/> as <c>convgrad train</c> takes it: the last <paramref name="validation"/>
    /// training images become the validation set, then the first <paramref name="trainLimit"/> of the rest train; the
    /// normalisation is the split's known one (MNIST's files), else <see cref="Normalization.Compute"/> of those
    /// training images.
    /// </summary>
    /// <param name="split">The training and held-out images.</param>
    /// <param name="validation">Training images to hold out for validation (0: none); fewer than the training images.</param>
    /// <param name="trainLimit">Train on only this many images (0 or more than there are: all).</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative count, or <paramref name="validation"/> not below the training images.</exception>
    public static TrainingData FromSplit(DataSplit split, int validation = 0, int trainLimit = 0)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentOutOfRangeException.ThrowIfNegative(validation);
        ArgumentOutOfRangeException.ThrowIfNegative(trainLimit);
        ImageSet train = split.Train;
        ImageSet? held = null;
        if (validation > 0)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(validation, train.Count);
            (held, train) = (train.Slice(train.Count - validation, validation), train.Slice(0, train.Count - validation));
        }
        if (trainLimit > 0 && trainLimit < train.Count)
        {
            train = train.Slice(0, trainLimit);
        }
        return new TrainingData(train, split.Test, split.Normalization ?? Normalization.Compute(train), held);
    }
}
