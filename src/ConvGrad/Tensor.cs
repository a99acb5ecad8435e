using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ConvGrad;

/// <summary>
/// A dense, row-major (C order) N-dimensional tensor of <typeparamref name="T"/> (float32 for the engine,
/// float64 for the reference path) whose storage is 64-byte aligned.
/// </summary>
/// <remarks>
/// <para>
/// Storage is a pinned, aligned buffer that comes from a process-wide pool (<see cref="TensorPool{T}"/>): it never
/// moves, so kernels can take its address, and it is recycled rather than reallocated. A tensor owns its storage
/// (every tensor created here or returned by <see cref="Conv"/> and <see cref="ConvTranspose"/> does):
/// <see cref="Dispose"/> hands the storage back for the next tensor of the same length, so a loop that disposes what
/// it is returned (<c>using var y = Conv.Forward(...)</c>) allocates no tensor memory after its first iteration and
/// causes no gen-2 collections. A tensor that is never disposed is simply reclaimed by the GC, as before.
/// </para>
/// <para>
/// After <see cref="Dispose"/> every access to the elements throws <see cref="ObjectDisposedException"/>. A layer's
/// output or gradient (<see cref="Nn.Module{T}"/>) is a handle on a buffer the layer keeps and overwrites on its next
/// call: once that happens, reading through the old handle throws <see cref="InvalidOperationException"/> instead of
/// returning the new numbers. Disposing such a handle only retires the handle.
/// </para>
/// <para>
/// A tensor holds at most <see cref="MaxLength"/> elements (one contiguous <see cref="Span{T}"/>); larger shapes are
/// refused with an <see cref="ArgumentException"/> rather than accessed in chunks.
/// </para>
/// </remarks>
/// <typeparam name="T">Element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Tensor<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The alignment of the first element, in bytes.</summary>
    public const int Alignment = 64;

    /// <summary>The largest element count a tensor may have.</summary>
    public static long MaxLength => Array.MaxLength - Alignment;

    private readonly TensorStorage<T> _storage;
    private readonly int[] _shape;
    private readonly bool _ownsStorage;
    private int _version;
    private bool _disposed;

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1.</param>
    public Tensor(params int[] shape) : this(shape, clear: true)
    {
    }

    private Tensor(ReadOnlySpan<int> shape, bool clear)
    {
        _shape = shape.ToArray();
        Length = CheckedLength(shape, nameof(shape));
        _storage = TensorPool<T>.Rent((int)Length);
        _version = _storage.Version;
        _ownsStorage = true;
        if (clear)
        {
            Span.Clear();
        }
    }

    private Tensor(TensorStorage<T> storage, int[] shape, bool ownsStorage)
    {
        _storage = storage;
        _shape = shape;
        Length = storage.Length;
        _version = storage.Version;
        _ownsStorage = ownsStorage;
    }

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    public static Tensor<T> Zeros(params int[] shape) => new(shape, clear: true);

    /// <summary>Creates a tensor whose contents are unspecified (for outputs that a kernel overwrites).</summary>
    public static Tensor<T> Uninitialized(params int[] shape) => new(shape, clear: false);

    /// <summary>Creates a tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    /// <exception cref="ArgumentException">The data length is not the product of the shape.</exception>
    public static Tensor<T> FromSpan(ReadOnlySpan<T> data, params int[] shape)
    {
        long length = CheckedLength(shape, nameof(shape));
        if (data.Length != length)
        {
            throw new ArgumentException(
                $"data has {data.Length} elements but shape {Shapes.Format(shape)} needs {length}", nameof(data));
        }
        var t = new Tensor<T>(shape, clear: false);
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
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor is a layer's buffer that a later call of the layer has overwritten.</exception>
    public Span<T> Span
    {
        get
        {
            var s = _storage;
            if (s.Version != _version)
            {
                ThrowNotValid();
            }
            return new Span<T>(s.Buffer, s.Offset, s.Length);
        }
    }

    /// <summary>All elements, row-major, read-only.</summary>
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor is a layer's buffer that a later call of the layer has overwritten.</exception>
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

    /// <summary>A copy of this tensor (with storage of its own, so it stays valid whatever happens to this one).</summary>
    public Tensor<T> Clone() => FromSpan(Span, _shape);

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(T value) => Span.Fill(value);

    /// <summary>
    /// Hands the storage back to the pool for the next tensor of the same length; afterwards every access to the
    /// elements throws <see cref="ObjectDisposedException"/>. Disposing twice does nothing.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_ownsStorage && _storage.Version == _version)
        {
            TensorPool<T>.Return(_storage);
        }
        else
        {
            _version = _storage.Version - 1;
        }
    }

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

    /// <summary>
    /// Whether this tensor's elements and <paramref name="other"/>'s share any memory (false when other is null);
    /// it compares memory ranges, so it also sees partial overlaps, and reads no element (a retired handle is fine).
    /// </summary>
    internal bool Overlaps(Tensor<T>? other)
    {
        if (other is null)
        {
            return false;
        }
        TensorStorage<T> a = _storage, b = other._storage;
        return ReferenceEquals(a.Buffer, b.Buffer) && a.Offset < b.Offset + b.Length && b.Offset < a.Offset + a.Length;
    }

    /// <summary>
    /// A tensor of shape <paramref name="shape"/> over elements of <paramref name="source"/>'s storage from element
    /// <paramref name="offset"/> (no copy; not owning). Only tests use it, to build partial overlaps.
    /// </summary>
    internal static Tensor<T> ViewOf(Tensor<T> source, int offset, params int[] shape)
    {
        long length = CheckedLength(shape, nameof(shape));
        if (offset < 0 || offset + length > source.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"a view of {length} elements from {offset} does not fit in {source.Length}");
        }
        var s = source._storage;
        return new Tensor<T>(new TensorStorage<T>(s.Buffer, s.Offset + offset, (int)length), shape, ownsStorage: false);
    }

    /// <summary>A reference to the first element, for kernels that work with refs or pointers.</summary>
    internal ref T DataRef => ref MemoryMarshal.GetReference(Span);

    /// <inheritdoc />
    public override string ToString() => $"Tensor<{typeof(T).Name}>{Shapes.Format(_shape)}";

    [DoesNotReturn]
    private void ThrowNotValid()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(ToString(), $"{this} was disposed: its storage has gone back to the pool.");
        }
        throw new InvalidOperationException(
            $"{this} is a layer's output or gradient buffer that a later call of the same layer has overwritten; " +
            "copy it with Clone() if you need it past the layer's next Forward or Backward.");
    }

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
