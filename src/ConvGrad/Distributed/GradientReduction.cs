namespace ConvGrad.Distributed;

/// <summary>How <see cref="GradientBucketer{T}"/> combines the ranks' gradients.</summary>
public enum GradientReduction
{
    /// <summary>The mean over ranks (sum, then divide by the number of ranks): each rank's gradient is the mean over an equal shard.</summary>
    Average,
    /// <summary>The sum over ranks: each rank's gradient is already weighted by its share of the global batch.</summary>
    Sum,
}
