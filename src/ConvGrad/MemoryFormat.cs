using System.Runtime.Intrinsics;

namespace ConvGrad;

/// <summary>
/// How a tensor's elements are laid out in storage (PyTorch's <c>memory_format</c>). Whatever the format, a tensor's
/// <see cref="Tensor{T}.Shape"/>, <see cref="Tensor{T}.Dim"/> and indexer speak of the logical shape
/// <c>[N, C, spatial...]</c>; only <see cref="Tensor{T}.StorageShape"/> and <see cref="Tensor{T}.Span"/> show the order
/// in memory. Conversions are explicit: <see cref="Tensor{T}.ToFormat"/>.
/// </summary>
public enum MemoryFormat
{
    /// <summary>Row-major over the logical shape (NC[D]HW for activations): PyTorch's <c>contiguous_format</c>.</summary>
    Contiguous = 0,

    /// <summary>
    /// Channel-blocked with 8 channels per block (oneDNN's <c>nChw8c</c>): storage <c>[N, ⌈C/8⌉, spatial..., 8]</c>,
    /// one <see cref="Vector256{T}"/> of floats per pixel and block; the channels past C are zero.
    /// </summary>
    ChannelsBlocked8 = 8,

    /// <summary>Channel-blocked with 16 channels per block (oneDNN's <c>nChw16c</c>): storage <c>[N, ⌈C/16⌉, spatial..., 16]</c>.</summary>
    ChannelsBlocked16 = 16,
}

/// <summary>Facts about a <see cref="MemoryFormat"/>.</summary>
public static class MemoryFormats
{
    /// <summary>The blocked format this machine's widest vectors use: 16 channels with AVX-512, else 8.</summary>
    public static MemoryFormat PreferredBlocked => Vector512.IsHardwareAccelerated ? MemoryFormat.ChannelsBlocked16 : MemoryFormat.ChannelsBlocked8;

    /// <summary>Channels per block: 8 or 16 for a blocked format, 0 for <see cref="MemoryFormat.Contiguous"/>.</summary>
    /// <param name="format">The format.</param>
    /// <returns>The block size.</returns>
    public static int BlockSize(this MemoryFormat format) => format switch
    {
        MemoryFormat.ChannelsBlocked8 => 8,
        MemoryFormat.ChannelsBlocked16 => 16,
        _ => 0,
    };

    /// <summary>Whether the format is one of the channel-blocked ones.</summary>
    /// <param name="format">The format.</param>
    /// <returns>True for <see cref="MemoryFormat.ChannelsBlocked8"/> and <see cref="MemoryFormat.ChannelsBlocked16"/>.</returns>
    public static bool IsBlocked(this MemoryFormat format) => format is MemoryFormat.ChannelsBlocked8 or MemoryFormat.ChannelsBlocked16;

    /// <summary>The blocked format of <paramref name="blockSize"/> channels per block.</summary>
    /// <param name="blockSize">8 or 16; 0 picks <see cref="PreferredBlocked"/>.</param>
    /// <returns>The format.</returns>
    /// <exception cref="ArgumentException">The block size is not 0, 8 or 16.</exception>
    public static MemoryFormat Blocked(int blockSize) => blockSize switch
    {
        0 => PreferredBlocked,
        8 => MemoryFormat.ChannelsBlocked8,
        16 => MemoryFormat.ChannelsBlocked16,
        _ => throw new ArgumentException($"blockSize must be 8, 16 or 0 (the machine's preferred block); got {blockSize}", nameof(blockSize)),
    };

    /// <summary>The storage shape of a tensor of logical shape <paramref name="shape"/> in <paramref name="format"/>.</summary>
    /// <exception cref="ArgumentException">A blocked format on a shape that is not <c>[N, C, spatial...]</c> with 1-3 spatial axes, or an unknown format.</exception>
    internal static int[] StorageShape(MemoryFormat format, ReadOnlySpan<int> shape)
    {
        if (format == MemoryFormat.Contiguous)
        {
            return shape.ToArray();
        }
        if (!format.IsBlocked())
        {
            throw new ArgumentException($"unknown memory format {(int)format}", nameof(format));
        }
        if (shape.Length is < 3 or > 5)
        {
            throw new ArgumentException($"the channel-blocked format needs shape [N, C, spatial...] with 1-3 spatial axes; got {Shapes.Format(shape)}", nameof(shape));
        }
        int bs = format.BlockSize();
        var storage = new int[shape.Length + 1];
        storage[0] = shape[0];
        storage[1] = (shape[1] + bs - 1) / bs;
        shape[2..].CopyTo(storage.AsSpan(2));
        storage[^1] = bs;
        return storage;
    }

    /// <summary>How an error message names a format and shape, e.g. <c>blocked16 [8, 20, 14, 14]</c>.</summary>
    internal static string Describe(MemoryFormat format, ReadOnlySpan<int> shape) =>
        format == MemoryFormat.Contiguous ? $"NCHW {Shapes.Format(shape)}" : $"blocked{format.BlockSize()} {Shapes.Format(shape)}";
}
