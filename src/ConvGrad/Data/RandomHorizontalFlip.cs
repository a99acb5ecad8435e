using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>Mirrors the image left to right with probability <see cref="Probability"/> (torchvision's <c>RandomHorizontalFlip</c>).</summary>
public sealed class RandomHorizontalFlip : IImageTransform
{
    /// <summary>Flips with probability <paramref name="probability"/>.</summary>
    /// <param name="probability">In [0, 1]; 0.5 as torchvision.</param>
    public RandomHorizontalFlip(double probability = 0.5)
    {
        if (probability is < 0 or > 1 || double.IsNaN(probability))
        {
            throw new ArgumentException($"probability must be in [0, 1]; got {probability}", nameof(probability));
        }
        Probability = probability;
    }

    /// <summary>The probability of a flip.</summary>
    public double Probability { get; }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, ref SampleRandom random)
    {
        source.CopyTo(destination);
        if (random.NextBernoulli(Probability))
        {
            int w = shape.Width;
            for (int row = 0; row < shape.Channels * shape.Height; row++)
            {
                destination.Slice(row * w, w).Reverse();
            }
        }
    }
}
