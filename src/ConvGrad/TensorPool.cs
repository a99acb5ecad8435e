using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ConvGrad;

/// <summary>
/// One tensor's elements: <see cref="Length"/> elements of a pinned array from <see cref="Offset"/>, 64-byte aligned.
/// <see cref="Version"/> goes up whenever the handles issued so far must stop reading it (the storage went back to
/// the pool, or a layer is about to overwrite it); a <see cref="Tensor{T}"/> is valid while its version matches.
/// </summary>
internal sealed class TensorStorage<T>(T[] buffer, int offset, int length) where T : unmanaged
{
    public T[] Buffer { get; } = buffer;

    public int Offset { get; } = offset;

    public int Length { get; } = length;

    public int Version;

    /// <summary>Whether the storage sits in the pool (so a second return of it is ignored, never handed out twice).</summary>
    public bool IsIdle;

    /// <summary>The pin of a caller's array (<see cref="Tensor{T}.Wrap"/>); null for pooled storage, which is pinned by allocation.</summary>
    public PinnedArray? Pin { get; init; }

    /// <summary>New storage of <paramref name="length"/> elements: a pinned array with slack to align the first element to 64 bytes.</summary>
    public static unsafe TensorStorage<T> Allocate(int length)
    {
        int slack = Tensor<float>.Alignment / sizeof(T);
        var buffer = GC.AllocateUninitializedArray<T>(length + slack, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        int misalignment = (int)(address & (Tensor<float>.Alignment - 1));
        int offset = misalignment == 0 ? 0 : (Tensor<float>.Alignment - misalignment) / sizeof(T);
        return new TensorStorage<T>(buffer, offset, length);
    }
}

/// <summary>
/// The process-wide pool of tensor storage, by exact element count. Storage is pinned (it lives on the pinned object
/// heap, so it never moves) and is allocated once and recycled: a disposed tensor's storage serves the next tensor of
/// the same length, so steady loops allocate nothing on the pinned heap and trigger no gen-2 collections. The pool
/// keeps at most <see cref="MaxRetainedBytes"/> per element type; storage returned beyond that is left to the GC.
/// </summary>
internal static class TensorPool<T> where T : unmanaged
{
    /// <summary>The most bytes of idle storage the pool keeps for this element type.</summary>
    public const long MaxRetainedBytes = 1L << 29;

    private static readonly Lock Gate = new();
    private static readonly Dictionary<int, Stack<TensorStorage<T>>> Idle = [];
    private static long s_retainedBytes;

    /// <summary>Bytes of idle storage held now (for tests and reports).</summary>
    public static long RetainedBytes
    {
        get
        {
            lock (Gate)
            {
                return s_retainedBytes;
            }
        }
    }

    /// <summary>Storage of exactly <paramref name="length"/> elements: idle storage when there is some, else new.</summary>
    public static TensorStorage<T> Rent(int length)
    {
        lock (Gate)
        {
            if (Idle.TryGetValue(length, out var stack) && stack.TryPop(out var storage))
            {
                s_retainedBytes -= Bytes(length);
                storage.IsIdle = false;
                return storage;
            }
        }
        return TensorStorage<T>.Allocate(length);
    }

    /// <summary>Takes back storage no tensor may read any more: every handle issued for it becomes invalid.</summary>
    public static void Return(TensorStorage<T> storage)
    {
        long bytes = Bytes(storage.Length);
        lock (Gate)
        {
            if (storage.IsIdle)
            {
                return;
            }
            storage.Version++;
            storage.IsIdle = true;
            if (s_retainedBytes + bytes > MaxRetainedBytes)
            {
                return;
            }
            if (!Idle.TryGetValue(storage.Length, out var stack))
            {
                stack = new Stack<TensorStorage<T>>();
                Idle.Add(storage.Length, stack);
            }
            stack.Push(storage);
            s_retainedBytes += bytes;
        }
    }

    private static unsafe long Bytes(int length) => (long)length * sizeof(T);
}

/// <summary>
/// Keeps a caller's array pinned while a tensor wraps it: freed by <see cref="Dispose"/>, or by the finalizer when the
/// storage is collected without the tensor being disposed (the handle pins the array but does not keep this alive).
/// </summary>
internal sealed class PinnedArray : IDisposable
{
    private GCHandle _handle;
    private int _freed;

    public PinnedArray(Array array) => _handle = GCHandle.Alloc(array, GCHandleType.Pinned);

    ~PinnedArray() => Free();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (Interlocked.Exchange(ref _freed, 1) == 0)
        {
            _handle.Free();
        }
    }
}
