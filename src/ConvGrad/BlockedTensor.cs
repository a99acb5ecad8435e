using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad;

/// <summary>
/// A float32 activation tensor in the channel-blocked layout <c>nC[d]hw{B}c</c> (oneDNN's <c>nChw16c</c> /
/// <c>nChw8c</c>): logical shape <c>[N, C, spatial...]</c> (1-3 spatial axes), stored as
/// <c>[N, ⌈C/B⌉, spatial..., B]</c>, so one vector of <c>B</c> floats holds <c>B</c> consecutive channels of one
/// pixel. The channels past <c>C</c> in the last block are zero. Chained layers keep activations in this layout and
/// convert to and from NCHW <see cref="Tensor{T}"/> only at a network's edges.
/// </summary>
/// <remarks>
/// This is a separate type rather than a layout tag on <see cref="Tensor{T}"/> because every member of
/// <see cref="Tensor{T}"/> (its shape, indexer and span) means row-major NCHW; a blocked tensor passed where NCHW is
/// expected must be a compile-time error, not wrong numbers. <c>B</c> is 16 (one <see cref="Vector512{T}"/>) or
/// 8 (one <see cref="Vector256{T}"/>); <see cref="PreferredBlockSize"/> is the block the machine's widest vectors use.
/// </remarks>
public sealed class BlockedTensor
{
    private readonly int[] _shape;

    /// <summary>Creates a zero-filled blocked tensor of logical shape <paramref name="shape"/>.</summary>
    /// <param name="shape">The logical shape <c>[N, C, spatial...]</c> with 1-3 spatial axes, every size &gt;= 1.</param>
    /// <param name="blockSize">Channels per block: 8 or 16; 0 picks <see cref="PreferredBlockSize"/>.</param>
    /// <exception cref="ArgumentException">The shape has fewer than 3 or more than 5 axes, a size below 1, or the block size is not 0, 8 or 16.</exception>
    public BlockedTensor(ReadOnlySpan<int> shape, int blockSize = 0)
    {
        if (shape.Length is < 3 or > 5)
        {
            throw new ArgumentException($"a blocked tensor has shape [N, C, spatial...] with 1-3 spatial axes; got {Shapes.Format(shape)}", nameof(shape));
        }
        foreach (int d in shape)
        {
            if (d < 1)
            {
                throw new ArgumentException($"every axis size must be >= 1; got {Shapes.Format(shape)}", nameof(shape));
            }
        }
        if (blockSize is not (0 or 8 or 16))
        {
            throw new ArgumentException($"blockSize must be 8, 16 or 0 (the machine's preferred block); got {blockSize}", nameof(blockSize));
        }
        BlockSize = blockSize == 0 ? PreferredBlockSize : blockSize;
        _shape = shape.ToArray();
        ChannelBlocks = (shape[1] + BlockSize - 1) / BlockSize;
        var storage = new int[shape.Length + 1];
        storage[0] = shape[0];
        storage[1] = ChannelBlocks;
        shape[2..].CopyTo(storage.AsSpan(2));
        storage[^1] = BlockSize;
        Storage = new Tensor<float>(storage);
        Spatial = (int)Shapes.Product(shape[2..]);
    }

    /// <summary>The block this machine's widest vectors use: 16 with AVX-512 (<see cref="Vector512.IsHardwareAccelerated"/>), else 8.</summary>
    public static int PreferredBlockSize => Vector512.IsHardwareAccelerated ? 16 : 8;

    /// <summary>The logical shape <c>[N, C, spatial...]</c>, as the NCHW tensor it stands for.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of logical axes (3 to 5).</summary>
    public int Rank => _shape.Length;

    /// <summary>Channels per block (8 or 16).</summary>
    public int BlockSize { get; }

    /// <summary>Channel blocks, <c>⌈C / BlockSize⌉</c>.</summary>
    public int ChannelBlocks { get; }

    /// <summary>The product of the spatial sizes.</summary>
    public int Spatial { get; }

    /// <summary>The blocked storage <c>[N, ⌈C/B⌉, spatial..., B]</c>, row-major (channels past C are zero).</summary>
    public Span<float> Span => Storage.Span;

    /// <summary>The element of logical index <c>(n, c, spatial...)</c>.</summary>
    /// <exception cref="ArgumentException">The index has the wrong number of axes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside its axis.</exception>
    /// <param name="index">One index per axis of the logical NCHW shape.</param>
    public ref float this[params ReadOnlySpan<int> index]
    {
        get
        {
            if (index.Length != _shape.Length)
            {
                throw new ArgumentException($"index has {index.Length} axes but the tensor has {_shape.Length}", nameof(index));
            }
            long flat = 0;
            for (int a = 0; a < index.Length; a++)
            {
                if ((uint)index[a] >= (uint)_shape[a])
                {
                    throw new ArgumentOutOfRangeException(nameof(index), $"index {index[a]} on axis {a} is outside [0, {_shape[a]})");
                }
                if (a >= 2)
                {
                    flat = flat * _shape[a] + index[a];
                }
            }
            long block = (long)index[0] * ChannelBlocks + index[1] / BlockSize;
            return ref Span[(int)(((block * Spatial) + flat) * BlockSize + index[1] % BlockSize)];
        }
    }

    /// <summary>The storage as a tensor <c>[N, ⌈C/B⌉, spatial..., B]</c>, for kernels.</summary>
    internal Tensor<float> Storage { get; }

    /// <summary>Converts an NCHW tensor to the blocked layout (vectorised, threaded).</summary>
    /// <param name="x">The tensor <c>[N, C, spatial...]</c> with 1-3 spatial axes.</param>
    /// <param name="blockSize">8 or 16; 0 picks <see cref="PreferredBlockSize"/>.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    /// <exception cref="ArgumentException">The shape or block size is not allowed.</exception>
    public static BlockedTensor FromNchw(Tensor<float> x, int blockSize = 0, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        var b = new BlockedTensor(x.Shape, blockSize);
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
        CheckSameShape(x, nameof(x));
        BlockedLayout.ToBlocked(x, this, Threads(threads));
    }

    /// <summary>Converts to a new NCHW tensor of the logical shape.</summary>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    public Tensor<float> ToNchw(int threads = 0)
    {
        var x = Tensor<float>.Uninitialized(_shape);
        BlockedLayout.ToNchw(this, x, Threads(threads));
        return x;
    }

    /// <summary>Writes this tensor into the NCHW tensor <paramref name="x"/> of the same logical shape.</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> has another shape.</exception>
    /// <param name="x">The NCHW tensor of the same logical shape.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    public void CopyTo(Tensor<float> x, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckSameShape(x, nameof(x));
        BlockedLayout.ToNchw(this, x, Threads(threads));
    }

    /// <summary>Sets every element (and the zero channel tail) to zero.</summary>
    public void Clear() => Span.Clear();

    /// <inheritdoc />
    public override string ToString() => $"BlockedTensor{Shapes.Format(_shape)} block {BlockSize}";

    private void CheckSameShape(Tensor<float> x, string name)
    {
        if (!x.Shape.SequenceEqual(_shape))
        {
            throw new ArgumentException($"{name} has shape {Shapes.Format(x.Shape)} but the blocked tensor is {Shapes.Format(_shape)}", name);
        }
    }

    private static int Threads(int threads)
    {
        if (threads < 0)
        {
            throw new ArgumentException($"threads must be >= 0 (0 = one per processor); got {threads}", nameof(threads));
        }
        return threads == 0 ? Environment.ProcessorCount : threads;
    }
}
