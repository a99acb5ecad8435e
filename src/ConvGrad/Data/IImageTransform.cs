using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>
/// A random augmentation of one training image (torchvision's transforms), on 8-bit pixels before normalisation. The
/// randomness comes from the sample's own <see cref="SampleRandom"/> stream, keyed by (seed, epoch, sample index), so
/// an image is transformed the same way on any rank, in any batch, and after a resume.
/// </summary>
public interface IImageTransform
{
    /// <summary>Writes the transformed <paramref name="source"/> into <paramref name="destination"/> (same shape, distinct memory).</summary>
    /// <param name="source">The image, C×H×W.</param>
    /// <param name="destination">Receives the result, C×H×W.</param>
    /// <param name="shape">The image's shape.</param>
    /// <param name="random">The sample's stream; transforms draw from it in the order they are applied.</param>
    void Apply(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, ref SampleRandom random);
}
