using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// A pinned, zeroed float buffer whose first element sits on a 64-byte boundary (one cache line, one AVX-512 vector), for
/// what the blocked kernels load as whole vectors and keep across calls: reblocked weights, dense panels, partial sums.
/// A plain pinned <c>float[]</c> starts wherever the heap put it (16 bytes past a header), so its vectors would straddle
/// two cache lines three times in four, and which one a process got would change its speed from run to run.
/// </summary>
internal sealed unsafe class AlignedFloats
{
    private const int Alignment = 64;
    private readonly float[] _array;
    private readonly int _offset;

    /// <summary>Allocates <paramref name="length"/> zeroed floats.</summary>
    public AlignedFloats(int length)
    {
        _array = GC.AllocateArray<float>(length + Alignment / sizeof(float), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        _offset = (int)((Alignment - (address & (Alignment - 1))) & (Alignment - 1)) / sizeof(float);
        Length = length;
    }

    /// <summary>The number of floats.</summary>
    public int Length { get; }

    /// <summary>The first float (64-byte aligned; the array is pinned, so the pointer stays valid).</summary>
    public float* Pointer => (float*)Unsafe.AsPointer(ref _array[_offset]);

    /// <summary>The floats.</summary>
    public Span<float> Span => _array.AsSpan(_offset, Length);

    /// <summary><paramref name="reuse"/> when it has <paramref name="length"/> floats, else a new zeroed buffer.</summary>
    public static AlignedFloats Reuse(AlignedFloats? reuse, int length) => reuse is not null && reuse.Length == length ? reuse : new AlignedFloats(length);
}
