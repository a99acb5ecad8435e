using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>
/// Translates the image by whole pixels, <c>dy</c> then <c>dx</c> drawn uniformly from [−max, max]; uncovered pixels
/// are 0 (the background of light-on-dark images such as MNIST's): <c>out[c, y, x] = in[c, y − dy, x − dx]</c>.
/// </summary>
public sealed class RandomShift : IImageTransform
{
    /// <summary>Shifts of up to <paramref name="maxShift"/> pixels on each axis.</summary>
    /// <param name="maxShift">The largest shift (&gt;= 0).</param>
    public RandomShift(int maxShift)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxShift);
        MaxShift = maxShift;
    }

    /// <summary>The largest shift.</summary>
    public int MaxShift { get; }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, ref SampleRandom random)
    {
        int dy = random.NextInt(-MaxShift, MaxShift);
        int dx = random.NextInt(-MaxShift, MaxShift);
        Translate(source, destination, shape, dy, dx);
    }

    /// <summary><c>out[c, y, x] = in[c, y − dy, x − dx]</c>, 0 where that is outside the image.</summary>
    internal static void Translate(ReadOnlySpan<byte> source, Span<byte> destination, ImageShape shape, int dy, int dx)
    {
        int h = shape.Height, w = shape.Width, plane = h * w;
        for (int c = 0; c < shape.Channels; c++)
        {
            var src = source.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            for (int y = 0; y < h; y++)
            {
                int sy = y - dy;
                var row = dst.Slice(y * w, w);
                if ((uint)sy >= (uint)h)
                {
                    row.Clear();
                    continue;
                }
                for (int x = 0; x < w; x++)
                {
                    int sx = x - dx;
                    row[x] = (uint)sx < (uint)w ? src[sy * w + sx] : (byte)0;
                }
            }
        }
    }
}
