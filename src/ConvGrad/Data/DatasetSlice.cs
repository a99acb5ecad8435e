namespace ConvGrad.Data;

/// <summary>Images <c>[Start, Start + Count)</c> of another dataset (no copy), as <c>torch.utils.data.Subset</c> of a range.</summary>
public sealed class DatasetSlice : IImageDataset
{
    private readonly IImageDataset _source;
    private readonly int _start;

    /// <summary>The <paramref name="count"/> images of <paramref name="source"/> from <paramref name="start"/>.</summary>
    /// <param name="source">The dataset.</param>
    /// <param name="start">The first image.</param>
    /// <param name="count">The number of images.</param>
    /// <exception cref="ArgumentException">The range is not inside the dataset.</exception>
    public DatasetSlice(IImageDataset source, int start, int count)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (start < 0 || count < 0 || (long)start + count > source.Count)
        {
            throw new ArgumentException($"slice [{start}, {(long)start + count}) is outside the {source.Count} images", nameof(start));
        }
        _source = source is DatasetSlice s ? s._source : source;
        _start = source is DatasetSlice t ? t._start + start : start;
        Count = count;
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public ImageShape Shape => _source.Shape;

    /// <inheritdoc/>
    public IReadOnlyList<string> Classes => _source.Classes;

    /// <inheritdoc/>
    public int Label(int index) => _source.Label(_start + Check(index));

    /// <inheritdoc/>
    public void ReadPixels(int index, Span<byte> destination) => _source.ReadPixels(_start + Check(index), destination);

    /// <inheritdoc/>
    public string Source(int index) => _source.Source(_start + Check(index));

    private int Check(int index) => (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"the slice has {Count} images");
}
