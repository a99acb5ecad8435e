using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>
/// torchvision's <c>RandomCrop(size, padding)</c> with the crop as large as the image: pads every side with
/// <see cref="Padding"/> zeros, then cuts an H×W window at a top row and left column drawn uniformly from
/// [0, 2·padding] (top first).
/// </summary>
public sealed class RandomCrop : IImageTransform
{
    /// <summary>Crops of the image padded by <paramref name="padding"/> pixels on each side.</summary>
    /// <param name="padding">Zero padding on each side (&gt;= 0).</param>
    public RandomCrop(int padding)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        Padding = padding;
    }

    /// <summary>The padding on each side.</summary>
    public int Padding { get; }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, ref SampleRandom random)
    {
        int top = random.NextInt(0, 2 * Padding);
        int left = random.NextInt(0, 2 * Padding);
        // The window starting at (top, left) of the padded image is the image moved by (padding − top, padding − left).
        RandomShift.Translate(source, destination, shape, Padding - top, Padding - left);
    }
}
