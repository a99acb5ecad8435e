namespace ConvGrad.Data;

/// <summary>
/// Images held in memory: 8-bit pixels C×H×W per image, labels and class names. What the IDX and image-folder readers
/// return; also a way to make a dataset from arrays.
/// </summary>
public sealed class ImageSet : IImageDataset
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly string[]? _sources;

    /// <summary>Wraps <paramref name="pixels"/> (images one after another, each C×H×W) and their <paramref name="labels"/>.</summary>
    /// <param name="pixels">The pixels; <c>labels.Length · shape.Length</c> bytes.</param>
    /// <param name="labels">The label of each image, in [0, classes.Count).</param>
    /// <param name="shape">The shape of every image.</param>
    /// <param name="classes">The class names.</param>
    /// <param name="sources">Where each image came from (file names), or null.</param>
    /// <exception cref="ArgumentException">Sizes disagree, a label is out of range, or there are no classes.</exception>
    public ImageSet(byte[] pixels, int[] labels, ImageShape shape, IReadOnlyList<string> classes, string[]? sources = null)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classes);
        if (shape.Channels < 1 || shape.Height < 1 || shape.Width < 1 || pixels.LongLength != (long)labels.Length * shape.Length)
        {
            throw new ArgumentException($"{labels.Length} images of {shape} need {(long)labels.Length * shape.Length} pixel bytes; got {pixels.LongLength}", nameof(pixels));
        }
        if (classes.Count < 1)
        {
            throw new ArgumentException("a dataset needs at least one class", nameof(classes));
        }
        int bad = Array.FindIndex(labels, l => (uint)l >= (uint)classes.Count);
        if (bad >= 0)
        {
            throw new ArgumentException($"label {labels[bad]} of image {bad} is not one of the {classes.Count} classes", nameof(labels));
        }
        if (sources is not null && sources.Length != labels.Length)
        {
            throw new ArgumentException($"{sources.Length} sources for {labels.Length} images", nameof(sources));
        }
        _pixels = pixels;
        _labels = labels;
        _sources = sources;
        Shape = shape;
        Classes = classes.ToArray();
    }

    /// <inheritdoc/>
    public int Count => _labels.Length;

    /// <inheritdoc/>
    public ImageShape Shape { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> Classes { get; }

    /// <inheritdoc/>
    public int Label(int index) => _labels[index];

    /// <summary>The pixels of image <paramref name="index"/> (C×H×W), without a copy.</summary>
    /// <param name="index">The image, 0-based.</param>
    public ReadOnlySpan<byte> Pixels(int index) => _pixels.AsSpan(checked(index * Shape.Length), Shape.Length);

    /// <inheritdoc/>
    public void ReadPixels(int index, Span<byte> destination) => Pixels(index).CopyTo(destination);

    /// <inheritdoc/>
    public string Source(int index) => _sources?[index] ?? $"#{index}";

    /// <summary>Images <c>[start, start + count)</c> as a new set (a copy).</summary>
    /// <param name="start">The first image.</param>
    /// <param name="count">The number of images.</param>
    public ImageSet Slice(int start, int count)
    {
        if (start < 0 || count < 0 || (long)start + count > Count)
        {
            throw new ArgumentException($"slice [{start}, {(long)start + count}) is outside the {Count} images", nameof(start));
        }
        int px = Shape.Length;
        return new ImageSet(_pixels.AsSpan(start * px, count * px).ToArray(), _labels.AsSpan(start, count).ToArray(), Shape, Classes,
            _sources?.AsSpan(start, count).ToArray());
    }

    /// <summary>The images whose positions are <paramref name="indices"/>, in that order, as a new set (a copy).</summary>
    /// <param name="indices">Positions in this set.</param>
    public ImageSet Select(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int px = Shape.Length;
        var pixels = new byte[(long)indices.Count * px];
        var labels = new int[indices.Count];
        var sources = _sources is null ? null : new string[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Pixels(indices[i]).CopyTo(pixels.AsSpan(i * px, px));
            labels[i] = _labels[indices[i]];
            if (sources is not null)
            {
                sources[i] = _sources![indices[i]];
            }
        }
        return new ImageSet(pixels, labels, Shape, Classes, sources);
    }
}
