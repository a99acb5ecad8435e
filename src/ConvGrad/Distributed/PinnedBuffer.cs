using System.Runtime.InteropServices;

namespace ConvGrad.Distributed;

/// <summary>
/// A buffer in native memory (64-byte aligned, zeroed) that the garbage collector never moves, so a non-blocking
/// MPI call can read and write it after the call that started it has returned. Free it with <see cref="Dispose"/>.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed unsafe class PinnedBuffer<T> : IDisposable where T : unmanaged
{
    private T* _data;

    /// <summary>Allocates <paramref name="length"/> zeroed elements.</summary>
    /// <exception cref="ArgumentException"><paramref name="length"/> is negative.</exception>
    /// <param name="length">The number of elements.</param>
    public PinnedBuffer(int length)
    {
        if (length < 0)
        {
            throw new ArgumentException($"length must be >= 0; got {length}", nameof(length));
        }
        Length = length;
        nuint bytes = (nuint)Math.Max(1, length) * (nuint)sizeof(T);
        _data = (T*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_data, bytes);
    }

    /// <summary>The number of elements.</summary>
    public int Length { get; }

    /// <summary>The elements.</summary>
    /// <exception cref="ObjectDisposedException">The buffer was freed.</exception>
    public Span<T> Span => new(Pointer, Length);

    /// <summary>The address of the first element (stable for the buffer's lifetime).</summary>
    /// <exception cref="ObjectDisposedException">The buffer was freed.</exception>
    public T* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data is null, this);
            return _data;
        }
    }

    /// <summary>Frees the native memory. A non-blocking call on the buffer must have completed first.</summary>
    public void Dispose()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the memory if <see cref="Dispose"/> was not called.</summary>
    ~PinnedBuffer()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
        }
    }
}
