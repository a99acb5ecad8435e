namespace ConvGrad.Data;

/// <summary>A dataset's training and held-out sets, as a folder of data gives them.</summary>
/// <param name="Train">The training images.</param>
/// <param name="Test">The held-out images.</param>
/// <param name="Note">One line: where the data came from and how it was split.</param>
/// <param name="Normalization">The normalisation the data is known by (MNIST's for MNIST's own files), or null to compute it from the training set.</param>
public sealed record DataSplit(ImageSet Train, ImageSet Test, string Note, Normalization? Normalization = null)
{
    /// <summary>The normalisation to train with: the known one, else <see cref="Normalization.Compute"/> of the training set.</summary>
    public Normalization TrainingNormalization() => Normalization ?? Data.Normalization.Compute(Train);
}
