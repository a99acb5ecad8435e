using System.Runtime.Intrinsics;

namespace ConvGrad;

/// <summary>
/// A thin view of a float32 <see cref="Tensor{T}"/> in a channel-blocked <see cref="MemoryFormat"/>
/// (<c>nC[d]hw{B}c</c>, oneDNN's <c>nChw16c</c> / <c>nChw8c</c>): logical shape <c>[N, C, spatial...]</c> (1-3 spatial
/// axes), stored as <c>[N, ⌈C/B⌉, spatial..., B]</c>, so one vector of <c>B</c> floats holds <c>B</c> consecutive
/// channels of one pixel; the channels past <c>C</c> in the last block are zero. The blocked overloads of
/// <see cref="Conv"/> take it, so that a blocked tensor passed where NCHW is meant is a compile-time error; every member
/// forwards to <see cref="Tensor"/>, which any tensor API accepts.
/// </summary>
/// <remarks>
/// <c>B</c> is 16 (one <see cref="Vector512{T}"/>) or 8 (one <see cref="Vector256{T}"/>); <see cref="PreferredBlockSize"/>
/// is the block the machine's widest vectors use.
/// </remarks>
public sealed class BlockedTensor
{
    /// <summary>Creates a zero-filled blocked tensor of logical shape <paramref name="shape"/>.</summary>
    /// <param name="shape">The logical shape <c>[N, C, spatial...]</c> with 1-3 spatial axes, every size &gt;= 1.</param>
    /// <param name="blockSize">Channels per block: 8 or 16; 0 picks <see cref="PreferredBlockSize"/>.</param>
    /// <exception cref="ArgumentException">The shape has fewer than 3 or more than 5 axes, a size below 1, or the block size is not 0, 8 or 16.</exception>
    public BlockedTensor(ReadOnlySpan<int> shape, int blockSize = 0)
        : this(Tensor<float>.Zeros(shape, MemoryFormats.Blocked(blockSize)))
    {
    }

    private BlockedTensor(Tensor<float> tensor)
    {
        Tensor = tensor;
        Spatial = (int)Shapes.Product(tensor.Shape[2..]);
    }

    /// <summary>A view of <paramref name="tensor"/>, which must be in a channel-blocked format (no copy).</summary>
    /// <param name="tensor">A float tensor in <see cref="MemoryFormat.ChannelsBlocked8"/> or <see cref="MemoryFormat.ChannelsBlocked16"/>.</param>
    /// <returns>The view.</returns>
    /// <exception cref="ArgumentException">The tensor is not channel-blocked.</exception>
    public static BlockedTensor Of(Tensor<float> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.Format.IsBlocked())
        {
            throw new ArgumentException($"a blocked view needs a channel-blocked tensor; got {tensor}", nameof(tensor));
        }
        return new BlockedTensor(tensor);
    }

    /// <summary>The block this machine's widest vectors use: 16 with AVX-512 (<see cref="Vector512.IsHardwareAccelerated"/>), else 8.</summary>
    public static int PreferredBlockSize => MemoryFormats.PreferredBlocked.BlockSize();

    /// <summary>The tensor this view shows, in a channel-blocked <see cref="Tensor{T}.Format"/>.</summary>
    public Tensor<float> Tensor { get; }

    /// <summary>The logical shape <c>[N, C, spatial...]</c>, as the NCHW tensor it stands for.</summary>
    public ReadOnlySpan<int> Shape => Tensor.Shape;

    /// <summary>The number of logical axes (3 to 5).</summary>
    public int Rank => Tensor.Rank;

    /// <summary>Channels per block (8 or 16).</summary>
    public int BlockSize => Tensor.Format.BlockSize();

    /// <summary>Channel blocks, <c>⌈C / BlockSize⌉</c>.</summary>
    public int ChannelBlocks => Tensor.StorageShape[1];

    /// <summary>The product of the spatial sizes.</summary>
    public int Spatial { get; }

    /// <summary>The blocked storage <c>[N, ⌈C/B⌉, spatial..., B]</c>, row-major (channels past C are zero).</summary>
    public Span<float> Span => Tensor.Span;

    /// <summary>The element of logical index <c>(n, c, spatial...)</c>.</summary>
    /// <exception cref="ArgumentException">The index has the wrong number of axes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside its axis.</exception>
    /// <param name="index">One index per axis of the logical NCHW shape.</param>
    public ref float this[params ReadOnlySpan<int> index] => ref Tensor[index];

    /// <summary>The storage tensor, for kernels.</summary>
    internal Tensor<float> Storage => Tensor;

    /// <summary>Converts an NCHW tensor to the blocked layout (vectorised, threaded).</summary>
    /// <param name="x">The tensor <c>[N, C, spatial...]</c> with 1-3 spatial axes.</param>
    /// <param name="blockSize">8 or 16; 0 picks <see cref="PreferredBlockSize"/>.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    /// <exception cref="ArgumentException">The shape or block size is not allowed.</exception>
    public static BlockedTensor FromNchw(Tensor<float> x, int blockSize = 0, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckNchw(x, nameof(x));
        var format = MemoryFormats.Blocked(blockSize);
        var b = new BlockedTensor(Tensor<float>.ForKernel(x.Shape, format, clear: false));
        b.CopyFrom(x, threads);
        return b;
    }

    /// <summary>Overwrites this tensor with the NCHW tensor <paramref name="x"/> of the same logical shape.</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> has another shape.</exception>
    /// <param name="x">The NCHW tensor of the same logical shape.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    public void CopyFrom(Tensor<float> x, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckNchw(x, nameof(x));
        CheckSameShape(x, nameof(x));
        Tensor.CopyFrom(x, threads);
    }

    /// <summary>Converts to a new NCHW tensor of the logical shape.</summary>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    public Tensor<float> ToNchw(int threads = 0) => Tensor.ToFormat(MemoryFormat.Contiguous, threads);

    /// <summary>Writes this tensor into the NCHW tensor <paramref name="x"/> of the same logical shape.</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> has another shape.</exception>
    /// <param name="x">The NCHW tensor of the same logical shape.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    public void CopyTo(Tensor<float> x, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckNchw(x, nameof(x));
        CheckSameShape(x, nameof(x));
        x.CopyFrom(Tensor, threads);
    }

    /// <summary>Sets every element (and the zero channel tail) to zero.</summary>
    public void Clear() => Span.Clear();

    /// <inheritdoc />
    public override string ToString() => $"BlockedTensor{Shapes.Format(Shape)} block {BlockSize}";

    private void CheckSameShape(Tensor<float> x, string name)
    {
        if (!x.Shape.SequenceEqual(Shape))
        {
            throw new ArgumentException($"{name} has shape {Shapes.Format(x.Shape)} but the blocked tensor is {Shapes.Format(Shape)}", name);
        }
    }

    private static void CheckNchw(Tensor<float> x, string name)
    {
        if (x.Format != MemoryFormat.Contiguous)
        {
            throw new ArgumentException($"{name} must be an NCHW (contiguous) tensor; got {x}", name);
        }
    }
}
