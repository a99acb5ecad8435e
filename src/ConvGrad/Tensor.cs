using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ConvGrad;

/// <summary>
/// A dense, row-major (C order) N-dimensional tensor of <typeparamref name="T"/> (float32 for the engine,
/// float64 for the reference path) whose storage is 64-byte aligned.
/// </summary>
/// <remarks>
/// Storage lives on the pinned object heap, so it never moves, needs no disposal and can be handed to SIMD
/// kernels as a pointer. A tensor holds at most <see cref="MaxLength"/> elements (one contiguous
/// <see cref="Span{T}"/>); larger shapes are refused with an <see cref="ArgumentException"/> rather than
/// accessed in chunks.
/// </remarks>
/// <typeparam name="T">Element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The alignment of the first element, in bytes.</summary>
    public const int Alignment = 64;

    /// <summary>The largest element count a tensor may have.</summary>
    public static long MaxLength => Array.MaxLength - Alignment;

    private readonly T[] _buffer;
    private readonly int _offset;
    private readonly int[] _shape;

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1.</param>
    public Tensor(params int[] shape) : this(shape, clear: true)
    {
    }

    private Tensor(ReadOnlySpan<int> shape, bool clear)
    {
        _shape = shape.ToArray();
        Length = CheckedLength(shape, nameof(shape));
        int elementSize = Unsafe.SizeOf<T>();
        int slack = Alignment / elementSize;
        _buffer = clear
            ? GC.AllocateArray<T>((int)Length + slack, pinned: true)
            : GC.AllocateUninitializedArray<T>((int)Length + slack, pinned: true);
        nint address = AddressOf(ref MemoryMarshal.GetArrayDataReference(_buffer));
        int misalignment = (int)(address & (Alignment - 1));
        _offset = misalignment == 0 ? 0 : (Alignment - misalignment) / elementSize;
    }

    /// <summary>A tensor of <paramref name="shape"/> over the storage of <paramref name="storage"/> (equal length; for recycling buffers).</summary>
    internal Tensor(Tensor<T> storage, int[] shape)
    {
        Length = CheckedLength(shape, nameof(shape));
        if (Length != storage.Length)
        {
            throw new ArgumentException($"shape {Shapes.Format(shape)} does not have the storage's {storage.Length} elements", nameof(shape));
        }
        _shape = shape;
        _buffer = storage._buffer;
        _offset = storage._offset;
    }

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    public static Tensor<T> Zeros(params int[] shape) => new(shape, clear: true);

    /// <summary>Creates a tensor whose contents are unspecified (for outputs that a kernel overwrites).</summary>
    public static Tensor<T> Uninitialized(params int[] shape) => new(shape, clear: false);

    /// <summary>Creates a tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    /// <exception cref="ArgumentException">The data length is not the product of the shape.</exception>
    public static Tensor<T> FromSpan(ReadOnlySpan<T> data, params int[] shape)
    {
        var t = new Tensor<T>(shape, clear: false);
        if (data.Length != t.Length)
        {
            throw new ArgumentException(
                $"data has {data.Length} elements but shape {Shapes.Format(shape)} needs {t.Length}", nameof(data));
        }
        data.CopyTo(t.Span);
        return t;
    }

    /// <summary>Creates a tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    public static Tensor<T> FromArray(T[] data, params int[] shape) => FromSpan(data, shape);

    /// <summary>The size of each axis.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements (the product of <see cref="Shape"/>).</summary>
    public long Length { get; }

    /// <summary>The size of axis <paramref name="axis"/>.</summary>
    public int Dim(int axis) => _shape[axis];

    /// <summary>All elements, row-major.</summary>
    public Span<T> Span => _buffer.AsSpan(_offset, (int)Length);

    /// <summary>All elements, row-major, read-only.</summary>
    public ReadOnlySpan<T> ReadOnlySpan => Span;

    /// <summary>The element at the given multi-index.</summary>
    public ref T this[params ReadOnlySpan<int> index] => ref Span[FlatIndex(index)];

    /// <summary>A copy of the elements as an array.</summary>
    public T[] ToArray() => Span.ToArray();

    /// <summary>A new tensor with the same elements and a different shape of equal length.</summary>
    public Tensor<T> Reshape(params int[] shape)
    {
        long length = CheckedLength(shape, nameof(shape));
        if (length != Length)
        {
            throw new ArgumentException(
                $"cannot reshape {Shapes.Format(_shape)} ({Length} elements) to {Shapes.Format(shape)} ({length} elements)",
                nameof(shape));
        }
        return FromSpan(Span, shape);
    }

    /// <summary>A copy of this tensor.</summary>
    public Tensor<T> Clone() => FromSpan(Span, _shape);

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(T value) => Span.Fill(value);

    /// <summary>The row-major flat index of a multi-index, with bounds checks per axis.</summary>
    public int FlatIndex(ReadOnlySpan<int> index)
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
                throw new ArgumentOutOfRangeException(nameof(index),
                    $"index {index[a]} on axis {a} is outside [0, {_shape[a]})");
            }
            flat = flat * _shape[a] + index[a];
        }
        return (int)flat;
    }

    /// <summary>A reference to the first element, for kernels that work with refs or pointers.</summary>
    internal ref T DataRef => ref _buffer[_offset];

    /// <inheritdoc />
    public override string ToString() => $"Tensor<{typeof(T).Name}>{Shapes.Format(_shape)}";

    private static unsafe nint AddressOf(ref T r) => (nint)Unsafe.AsPointer(ref r);

    private static long CheckedLength(ReadOnlySpan<int> shape, string parameter)
    {
        if (shape.Length == 0)
        {
            throw new ArgumentException("a tensor needs at least one axis", parameter);
        }
        long length = 1;
        foreach (int d in shape)
        {
            if (d < 1)
            {
                throw new ArgumentException($"every axis size must be >= 1; got {Shapes.Format(shape)}", parameter);
            }
            length *= d;
            if (length > MaxLength)
            {
                throw new ArgumentException(
                    $"shape {Shapes.Format(shape)} has more than {MaxLength} elements, the most one tensor can hold",
                    parameter);
            }
        }
        return length;
    }
}

/// <summary>Shape helpers shared by tensors, geometry and error messages.</summary>
public static class Shapes
{
    /// <summary>Formats a shape as <c>[a, b, c]</c>.</summary>
    public static string Format(ReadOnlySpan<int> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            parts[i] = shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return "[" + string.Join(", ", parts) + "]";
    }

    /// <summary>The product of the sizes, as a <see cref="long"/>.</summary>
    public static long Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (int d in shape)
        {
            p *= d;
        }
        return p;
    }
}
