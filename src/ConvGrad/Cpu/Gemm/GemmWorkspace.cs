using System.Runtime.InteropServices;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// One thread's scratch for the GEMM: the packed A block, the packed B block and an integer table
/// (tap offsets, column maps), each 64-byte aligned native memory that grows on demand and is reused
/// across calls. There is one per thread (<see cref="ForThisThread"/>): a thread runs one part of one call
/// at a time, so calls in flight on different threads never share scratch.
/// </summary>
internal sealed unsafe class GemmWorkspace : IDisposable
{
    [ThreadStatic]
    private static GemmWorkspace? t_current;

    private float* _a, _b;
    private int* _ints;
    private nint _aFloats, _bFloats, _intCount;

    /// <summary>The calling thread's workspace.</summary>
    public static GemmWorkspace ForThisThread() => t_current ??= new GemmWorkspace();

    /// <summary>Packed A block (at least the floats asked of <see cref="Ensure"/>).</summary>
    public float* A => _a;

    /// <summary>Packed B block.</summary>
    public float* B => _b;

    /// <summary>Integer tables.</summary>
    public int* Ints => _ints;

    /// <summary>Grows the buffers to at least the given sizes (never shrinks).</summary>
    public void Ensure(nint aFloats, nint bFloats, nint ints)
    {
        Grow(ref _a, ref _aFloats, aFloats);
        Grow(ref _b, ref _bFloats, bFloats);
        if (ints > _intCount)
        {
            NativeMemory.AlignedFree(_ints);
            _ints = null;
            _ints = (int*)NativeMemory.AlignedAlloc((nuint)(ints * sizeof(int)), 64);
            _intCount = ints;
        }
    }

    private static void Grow(ref float* p, ref nint count, nint want)
    {
        if (want <= count)
        {
            return;
        }
        NativeMemory.AlignedFree(p);
        p = null;
        count = 0;
        p = (float*)NativeMemory.AlignedAlloc((nuint)(want * sizeof(float)), 64);
        count = want;
    }

    /// <summary>Frees the native buffers.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~GemmWorkspace() => Free();

    private void Free()
    {
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_ints);
        _a = _b = null;
        _ints = null;
        _aFloats = _bFloats = _intCount = 0;
    }
}
