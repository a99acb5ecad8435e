namespace ConvGrad.Data;

/// <summary>
/// A labelled image dataset, as <c>torch.utils.data.Dataset</c>: <see cref="Count"/> images of one
/// <see cref="Shape"/> (C×H×W, 8-bit pixels) and a class label for each. <see cref="DataLoader"/> batches, shuffles,
/// transforms and normalises them.
/// </summary>
/// <remarks>Implementations are read from several threads at once (the loader prefetches), so reads must not change state.</remarks>
public interface IImageDataset
{
    /// <summary>The number of images.</summary>
    int Count { get; }

    /// <summary>The shape of every image.</summary>
    ImageShape Shape { get; }

    /// <summary>The class names; a label is an index into them.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>The label of image <paramref name="index"/>, in [0, <see cref="Classes"/>.Count).</summary>
    /// <param name="index">The image, 0-based.</param>
    int Label(int index);

    /// <summary>Writes the pixels of image <paramref name="index"/> (C×H×W, row-major, 0-255) into <paramref name="destination"/>.</summary>
    /// <param name="index">The image, 0-based.</param>
    /// <param name="destination">At least <see cref="ImageShape.Length"/> bytes.</param>
    void ReadPixels(int index, Span<byte> destination);

    /// <summary>Where image <paramref name="index"/> came from (a file name, or <c>#index</c>), for messages.</summary>
    /// <param name="index">The image, 0-based.</param>
    string Source(int index) => $"#{index}";
}

/// <summary>The shape of one image: channels × height × width.</summary>
/// <param name="Channels">Channels (1 gray, 3 RGB).</param>
/// <param name="Height">Rows.</param>
/// <param name="Width">Columns.</param>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Pixels in all channels: C·H·W.</summary>
    public int Length => Channels * Height * Width;

    /// <summary>The shape as the model's input dimensions <c>[C, H, W]</c>.</summary>
    public int[] ToArray() => [Channels, Height, Width];

    /// <summary><c>CxHxW</c>.</summary>
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}
