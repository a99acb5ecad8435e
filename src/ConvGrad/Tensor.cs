using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConvGrad.Cpu.Blocked;

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
/// <b>Memory format.</b> A tensor has a logical shape (<see cref="Shape"/>, <see cref="Dim"/>, the indexer) and a
/// storage <see cref="Format"/> (PyTorch's <c>memory_format</c>): <see cref="MemoryFormat.Contiguous"/> (row-major,
/// NC[D]HW) or channel-blocked (<see cref="MemoryFormat.ChannelsBlocked16"/> / <see cref="MemoryFormat.ChannelsBlocked8"/>),
/// whose <see cref="StorageShape"/> is <c>[N, ⌈C/B⌉, spatial..., B]</c> with the channels past C zero. <see cref="Span"/>
/// and <see cref="Length"/> are the storage; <see cref="ToFormat"/> converts.
/// </para>
/// <para>
/// A tensor holds at most <see cref="MaxLength"/> elements (one contiguous <see cref="Span{T}"/>); larger shapes are
/// refused with an <see cref="ArgumentException"/> rather than accessed in chunks.
/// </para>
/// <para>
/// <b>System.Numerics.Tensors.</b> This type keeps its name and interoperates with
/// <c>System.Numerics.Tensors</c> instead: <see cref="AsTensorSpan"/>, <see cref="AsReadOnlyTensorSpan"/> and
/// <see cref="AsSystemTensor"/> view the same memory without copying, and <see cref="FromTensorSpan"/> copies the other
/// way. A file that imports both namespaces resolves the clash with aliases, e.g.
/// <c>using CgTensor = ConvGrad.Tensor&lt;float&gt;;</c> and
/// <c>using SnTensor = System.Numerics.Tensors.Tensor&lt;float&gt;;</c>.
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
    private readonly int[] _shape, _storageShape;
    private readonly MemoryFormat _format;
    private readonly StorageOwnership _ownership;
    private int _version;
    private bool _disposed;

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1.</param>
    public Tensor(params ReadOnlySpan<int> shape) : this(shape, MemoryFormat.Contiguous, clear: true)
    {
    }

    private Tensor(ReadOnlySpan<int> shape, MemoryFormat format, bool clear)
    {
        CheckedLength(shape, nameof(shape));
        _shape = shape.ToArray();
        _format = format;
        _storageShape = format == MemoryFormat.Contiguous ? _shape : MemoryFormats.StorageShape(format, shape);
        Length = CheckedLength(_storageShape, nameof(shape));
        _storage = TensorPool<T>.Rent((int)Length);
        _version = _storage.Version;
        _ownership = StorageOwnership.Pooled;
        if (clear)
        {
            Span.Clear();
        }
    }

    private Tensor(TensorStorage<T> storage, int[] shape, StorageOwnership ownership, int version)
        : this(storage, shape, MemoryFormat.Contiguous, shape, ownership, version)
    {
    }

    private Tensor(TensorStorage<T> storage, int[] shape, MemoryFormat format, int[] storageShape, StorageOwnership ownership, int version)
    {
        _storage = storage;
        _shape = shape;
        _format = format;
        _storageShape = storageShape;
        Length = storage.Length;
        _version = version;
        _ownership = ownership;
    }

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1 (another tensor's <see cref="Shape"/> passes as is).</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    public static Tensor<T> Zeros(params ReadOnlySpan<int> shape) => new(shape, MemoryFormat.Contiguous, clear: true);

    /// <summary>Creates a zero-filled tensor of logical shape <paramref name="shape"/> stored in <paramref name="format"/>.</summary>
    /// <param name="shape">The logical size of each axis (<c>[N, C, spatial...]</c> with 1-3 spatial axes for a blocked format).</param>
    /// <param name="format">The storage format.</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    /// <exception cref="ArgumentException">A size below 1, or a blocked format on a shape it cannot hold.</exception>
    public static Tensor<T> Zeros(ReadOnlySpan<int> shape, MemoryFormat format) => new(shape, format, clear: true);

    /// <summary>Creates a tensor whose contents are unspecified (for outputs that a kernel overwrites).</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1.</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    public static Tensor<T> Uninitialized(params ReadOnlySpan<int> shape) => new(shape, MemoryFormat.Contiguous, clear: false);

    /// <summary>
    /// Creates a tensor of logical shape <paramref name="shape"/> stored in <paramref name="format"/> whose logical
    /// elements are unspecified; a blocked format's channel tail is zero.
    /// </summary>
    /// <param name="shape">The logical size of each axis.</param>
    /// <param name="format">The storage format.</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    /// <exception cref="ArgumentException">A size below 1, or a blocked format on a shape it cannot hold.</exception>
    public static Tensor<T> Uninitialized(ReadOnlySpan<int> shape, MemoryFormat format) =>
        new(shape, format, clear: format != MemoryFormat.Contiguous && shape.Length > 1 && shape[1] % format.BlockSize() != 0);

    /// <summary>A tensor in <paramref name="format"/> whose every stored element, the blocked tail included, a kernel overwrites.</summary>
    internal static Tensor<T> ForKernel(ReadOnlySpan<int> shape, MemoryFormat format, bool clear) => new(shape, format, clear);

    /// <summary>Creates a tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    /// <param name="data">The elements, row-major; copied.</param>
    /// <param name="shape">The size of each axis; its product must be the length of <paramref name="data"/>.</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    /// <exception cref="ArgumentException">The data length is not the product of the shape.</exception>
    public static Tensor<T> FromSpan(ReadOnlySpan<T> data, params ReadOnlySpan<int> shape)
    {
        CheckDataLength(data.Length, shape);
        var t = new Tensor<T>(shape, MemoryFormat.Contiguous, clear: false);
        data.CopyTo(t.Span);
        return t;
    }

    /// <summary>Creates a tensor of the given shape holding a copy of <paramref name="data"/> (row-major).</summary>
    /// <param name="data">The elements, row-major; copied (see <see cref="Wrap"/> for a tensor over the array itself).</param>
    /// <param name="shape">The size of each axis; its product must be the length of <paramref name="data"/>.</param>
    /// <returns>A new tensor that owns pooled storage.</returns>
    /// <exception cref="ArgumentException">The data length is not the product of the shape.</exception>
    public static Tensor<T> FromArray(T[] data, params ReadOnlySpan<int> shape) => FromSpan(data, shape);

    /// <summary>
    /// A tensor over <paramref name="data"/> itself, without a copy: writes through either are seen by the other.
    /// The array is pinned (it must not move while kernels hold its address) until the tensor is disposed, or
    /// collected if it never is; its first element need not be 64-byte aligned (the kernels only run a little slower).
    /// </summary>
    /// <param name="data">The elements, row-major; not copied.</param>
    /// <param name="shape">The size of each axis; its product must be the length of <paramref name="data"/>.</param>
    /// <returns>A tensor that shares <paramref name="data"/>; disposing it unpins the array and never pools it.</returns>
    /// <exception cref="ArgumentException">The data length is not the product of the shape.</exception>
    public static Tensor<T> Wrap(T[] data, params ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDataLength(data.Length, shape);
        var storage = new TensorStorage<T>(data, 0, data.Length) { Pin = new PinnedArray(data) };
        return new Tensor<T>(storage, shape.ToArray(), StorageOwnership.Wrapped, storage.Version);
    }

    /// <summary>Creates a tensor holding a copy of a <c>System.Numerics.Tensors</c> tensor span (of any strides).</summary>
    /// <param name="source">
    /// The elements to copy, in row-major order of its lengths; a <c>System.Numerics.Tensors.Tensor&lt;T&gt;</c> converts
    /// to it implicitly.
    /// </param>
    /// <returns>A new tensor of the same lengths that owns pooled storage.</returns>
    /// <exception cref="ArgumentException"><paramref name="source"/> is empty or has an axis longer than <see cref="int.MaxValue"/>.</exception>
    public static Tensor<T> FromTensorSpan(in ReadOnlyTensorSpan<T> source)
    {
        var lengths = source.Lengths;
        if (lengths.Length == 0)
        {
            throw new ArgumentException("source has no axes", nameof(source));
        }
        var shape = new int[lengths.Length];
        for (int a = 0; a < shape.Length; a++)
        {
            if (lengths[a] < 1 || lengths[a] > int.MaxValue)
            {
                throw new ArgumentException($"source axis {a} has length {lengths[a]}; a tensor needs 1 to {int.MaxValue}", nameof(source));
            }
            shape[a] = (int)lengths[a];
        }
        var t = new Tensor<T>(shape, MemoryFormat.Contiguous, clear: false);
        source.FlattenTo(t.Span);
        return t;
    }

    /// <summary>The logical size of each axis (<c>[N, C, spatial...]</c> whatever the <see cref="Format"/>).</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>
    /// The shape of the storage, row-major: <see cref="Shape"/> for <see cref="MemoryFormat.Contiguous"/>,
    /// <c>[N, ⌈C/B⌉, spatial..., B]</c> for a channel-blocked format.
    /// </summary>
    public ReadOnlySpan<int> StorageShape => _storageShape;

    /// <summary>How the elements are laid out in storage.</summary>
    public MemoryFormat Format => _format;

    /// <summary>The number of logical axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>
    /// The number of stored elements (the product of <see cref="StorageShape"/>, the length of <see cref="Span"/>); for
    /// a contiguous tensor, the product of <see cref="Shape"/>.
    /// </summary>
    public long Length { get; }

    /// <summary>The size of axis <paramref name="axis"/>.</summary>
    /// <param name="axis">The axis, 0 to <see cref="Rank"/> − 1.</param>
    /// <returns>The size of that axis.</returns>
    public int Dim(int axis) => _shape[axis];

    /// <summary>All stored elements, row-major over <see cref="StorageShape"/>.</summary>
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

    /// <summary>The element at the given logical multi-index (whatever the <see cref="Format"/>).</summary>
    /// <param name="index">One index per logical axis.</param>
    public ref T this[params ReadOnlySpan<int> index] => ref Span[FlatIndex(index)];

    /// <summary>A copy of the stored elements as an array (row-major over <see cref="StorageShape"/>).</summary>
    public T[] ToArray() => Span.ToArray();

    /// <summary>
    /// This tensor in <paramref name="format"/> (PyTorch's <c>x.contiguous(memory_format=...)</c>): this tensor itself when
    /// it is already in that format, else a new tensor of the same logical shape and values. Reorders between NCHW and
    /// the blocked formats run vectorised and threaded for float.
    /// </summary>
    /// <param name="format">The storage format of the result.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    /// <returns>This tensor, or a new one that owns pooled storage.</returns>
    /// <exception cref="ArgumentException">A blocked format on a shape it cannot hold, or a negative thread count.</exception>
    public Tensor<T> ToFormat(MemoryFormat format, int threads = 0)
    {
        if (format == _format)
        {
            return this;
        }
        var t = new Tensor<T>(_shape, format, clear: false);
        FormatReorder.Copy(this, t, CheckThreads(threads));
        return t;
    }

    /// <summary>
    /// Overwrites this tensor's values with <paramref name="source"/>'s, which has the same logical shape in any format
    /// (reordering when the formats differ; a blocked channel tail stays zero).
    /// </summary>
    /// <param name="source">The values to copy.</param>
    /// <param name="threads">Threads to use; 0 means one per processor.</param>
    /// <exception cref="ArgumentException">The logical shapes differ, or a negative thread count.</exception>
    public void CopyFrom(Tensor<T> source, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.Shape.SequenceEqual(_shape))
        {
            throw new ArgumentException($"source has shape {Shapes.Format(source.Shape)} but this tensor is {Shapes.Format(_shape)}", nameof(source));
        }
        FormatReorder.Copy(source, this, CheckThreads(threads));
    }

    private static int CheckThreads(int threads)
    {
        if (threads < 0)
        {
            throw new ArgumentException($"threads must be >= 0 (0 = one per processor); got {threads}", nameof(threads));
        }
        return threads == 0 ? Environment.ProcessorCount : threads;
    }

    /// <summary>
    /// A view of the same elements with a different shape of equal length: no copy, writes through either are seen by
    /// the other. The view does not own the storage: disposing it only retires the view, and once this tensor is
    /// disposed (or, for a layer's buffer, overwritten) reading the view throws as reading this tensor would.
    /// <see cref="Clone"/> the result for a tensor of its own.
    /// </summary>
    /// <param name="shape">The new size of each axis; its product must be <see cref="Length"/>.</param>
    /// <returns>A view over this tensor's storage.</returns>
    /// <exception cref="ArgumentException">The element counts differ.</exception>
    /// <exception cref="InvalidOperationException">The tensor is not <see cref="MemoryFormat.Contiguous"/> (convert it with <see cref="ToFormat"/> first).</exception>
    /// <exception cref="ObjectDisposedException">This tensor was disposed.</exception>
    public Tensor<T> Reshape(params ReadOnlySpan<int> shape)
    {
        if (_format != MemoryFormat.Contiguous)
        {
            throw new InvalidOperationException($"{this} is not contiguous; convert it with ToFormat(MemoryFormat.Contiguous) before reshaping");
        }
        long length = CheckedLength(shape, nameof(shape));
        if (length != Length)
        {
            throw new ArgumentException(
                $"cannot reshape {Shapes.Format(_shape)} ({Length} elements) to {Shapes.Format(shape)} ({length} elements)",
                nameof(shape));
        }
        if (_storage.Version != _version)
        {
            ThrowNotValid();
        }
        return new Tensor<T>(_storage, shape.ToArray(), StorageOwnership.View, _version);
    }

    /// <summary>
    /// A <c>System.Numerics.Tensors</c> span over this tensor's elements (no copy), with this tensor's
    /// <see cref="StorageShape"/> as its lengths (its <see cref="Shape"/> when contiguous). Like <see cref="Span"/>, it must not be used after this tensor is disposed.
    /// </summary>
    /// <returns>A dense, writable tensor span.</returns>
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    public TensorSpan<T> AsTensorSpan() => new(Span, Lengths(), []);

    /// <summary>A read-only <c>System.Numerics.Tensors</c> span over this tensor's elements (no copy).</summary>
    /// <returns>A dense, read-only tensor span.</returns>
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    public ReadOnlyTensorSpan<T> AsReadOnlyTensorSpan() => new(ReadOnlySpan, Lengths(), []);

    /// <summary>
    /// A <c>System.Numerics.Tensors.Tensor&lt;T&gt;</c> over this tensor's storage, without a copy. It shares the
    /// memory but not the lifetime: once this tensor is disposed its storage may serve another tensor, so stop
    /// using the result first (or <see cref="Clone"/> before converting).
    /// </summary>
    /// <returns>A dense <c>System.Numerics.Tensors</c> tensor with this tensor's <see cref="StorageShape"/> as its lengths.</returns>
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    public System.Numerics.Tensors.Tensor<T> AsSystemTensor()
    {
        if (_storage.Version != _version)
        {
            ThrowNotValid();
        }
        return System.Numerics.Tensors.Tensor.Create(_storage.Buffer, _storage.Offset, Lengths(), []);
    }

    /// <summary>A copy of this tensor in the same format (with storage of its own, so it stays valid whatever happens to this one).</summary>
    public Tensor<T> Clone()
    {
        var t = new Tensor<T>(_shape, _format, clear: false);
        Span.CopyTo(t.Span);
        return t;
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();

    /// <summary>Sets every logical element to <paramref name="value"/> (a blocked channel tail stays zero).</summary>
    /// <param name="value">The value every element gets.</param>
    public void Fill(T value)
    {
        Span.Fill(value);
        if (_format != MemoryFormat.Contiguous)
        {
            FormatReorder.ClearTail(this);
        }
    }

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
        if (_storage.Version != _version || _ownership == StorageOwnership.View)
        {
            _version = _storage.Version - 1;
        }
        else if (_ownership == StorageOwnership.Pooled)
        {
            TensorPool<T>.Return(_storage);
        }
        else
        {
            // Wrapped: retire every view of the caller's array, then unpin it; the array never enters the pool.
            Interlocked.Increment(ref _storage.Version);
            _storage.Pin?.Dispose();
        }
    }

    /// <summary>The position in <see cref="Span"/> of a logical multi-index, with bounds checks per axis.</summary>
    /// <param name="index">One index per logical axis.</param>
    /// <returns>The position of that element in <see cref="Span"/> (row-major over <see cref="Shape"/> when contiguous).</returns>
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
        if (_format == MemoryFormat.Contiguous)
        {
            return (int)flat;
        }
        // Blocked: the spatial offset inside (image, channel block), times B, plus the lane.
        int bs = _storageShape[^1];
        long spatial = 1, at = 0;
        for (int a = 2; a < index.Length; a++)
        {
            spatial *= _shape[a];
            at = at * _shape[a] + index[a];
        }
        long block = (long)index[0] * _storageShape[1] + index[1] / bs;
        return (int)(((block * spatial) + at) * bs + index[1] % bs);
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
        return new Tensor<T>(new TensorStorage<T>(s.Buffer, s.Offset + offset, (int)length), shape, StorageOwnership.View, 0);
    }

    /// <summary>A reference to the first element, for kernels that work with refs or pointers.</summary>
    internal ref T DataRef => ref MemoryMarshal.GetReference(Span);

    /// <inheritdoc />
    public override string ToString() =>
        $"Tensor<{typeof(T).Name}>{Shapes.Format(_shape)}{(_format == MemoryFormat.Contiguous ? "" : $" blocked{_format.BlockSize()}")}";

    [DoesNotReturn]
    private void ThrowNotValid()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(ToString(), $"{this} was disposed: its storage has gone back to the pool.");
        }
        if (_ownership == StorageOwnership.View)
        {
            throw new InvalidOperationException(
                $"{this} is a view (Reshape) of a tensor that has since been disposed or overwritten; Clone() a view to keep it.");
        }
        throw new InvalidOperationException(
            $"{this} is a layer's output or gradient buffer that a later call of the same layer has overwritten; " +
            "copy it with Clone() if you need it past the layer's next Forward or Backward.");
    }

    private nint[] Lengths()
    {
        var lengths = new nint[_storageShape.Length];
        for (int a = 0; a < lengths.Length; a++)
        {
            lengths[a] = _storageShape[a];
        }
        return lengths;
    }

    private static void CheckDataLength(int dataLength, ReadOnlySpan<int> shape)
    {
        long length = CheckedLength(shape, nameof(shape));
        if (dataLength != length)
        {
            throw new ArgumentException(
                $"data has {dataLength} elements but shape {Shapes.Format(shape)} needs {length}", "data");
        }
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

/// <summary>Who releases a tensor's storage when it is disposed.</summary>
internal enum StorageOwnership
{
    /// <summary>The tensor rented the storage from <see cref="TensorPool{T}"/> and returns it.</summary>
    Pooled,

    /// <summary>The storage is a caller's array (<see cref="Tensor{T}.Wrap"/>): disposing unpins it, never pools it.</summary>
    Wrapped,

    /// <summary>A view (<see cref="Tensor{T}.Reshape"/>): disposing retires only the handle.</summary>
    View,
}

/// <summary>Shape helpers shared by tensors, geometry and error messages.</summary>
internal static class Shapes
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
