using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Kernels;

/// <summary>
/// The one abstraction of an instruction set in the kernels: the vector operations a register tile needs, as static
/// members of a struct type parameter. One kernel source serves <see cref="Vector512{T}"/> (16 lanes),
/// <see cref="Vector256{T}"/> (8) and <see cref="Vector128{T}"/> (4): the JIT compiles a separate body per struct
/// instantiation and inlines these calls, which become single instructions (the broadcast folds into the FMA as an
/// embedded broadcast where it is used once on AVX-512). So the AVX-512 kernels are the same code as the AVX2 kernels
/// that run, and are tested, on an AVX2-only machine.
/// </summary>
/// <typeparam name="TV">The vector type.</typeparam>
internal unsafe interface ISimdIsa<TV> where TV : struct
{
    /// <summary>Floats per vector: the channel block of the layout.</summary>
    static abstract int Lanes { get; }

    /// <summary>The largest number of output pixels one forward tile holds in registers with two output-channel blocks.</summary>
    static abstract int MaxPixels { get; }

    /// <summary>The zero vector.</summary>
    static abstract TV Zero { get; }

    /// <summary>Loads <see cref="Lanes"/> floats.</summary>
    static abstract TV Load(float* p);

    /// <summary>Stores <see cref="Lanes"/> floats.</summary>
    static abstract void Store(float* p, TV v);

    /// <summary>One float in every lane.</summary>
    static abstract TV Broadcast(float* p);

    /// <summary><c>a·b + c</c> with one rounding.</summary>
    static abstract TV Fma(TV a, TV b, TV c);

    /// <summary><c>a + b</c>.</summary>
    static abstract TV Add(TV a, TV b);
}

/// <summary>The AVX-512 tier: 16 lanes, 32 registers (14 pixels × 2 channel blocks = 28 accumulators).</summary>
internal unsafe struct Isa512 : ISimdIsa<Vector512<float>>
{
    public static int Lanes => 16;
    public static int MaxPixels => 14;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float* p) => Vector512.Create(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
}

/// <summary>The AVX2 tier: 8 lanes, 16 registers (6 pixels × 2 channel blocks = 12 accumulators).</summary>
internal unsafe struct Isa256 : ISimdIsa<Vector256<float>>
{
    public static int Lanes => 8;
    public static int MaxPixels => 6;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float* p) => Vector256.Create(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
}

/// <summary>
/// The portable tier: 4 lanes of cross-platform <see cref="Vector128{T}"/> (SSE, ARM64 NEON), 16 registers. Its FMA
/// rounds once on every platform (in hardware where there is an FMA unit), so each element is the same chain as in the
/// wider tiers.
/// </summary>
internal unsafe struct Isa128 : ISimdIsa<Vector128<float>>
{
    public static int Lanes => 4;
    public static int MaxPixels => 6;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float* p) => Vector128.Create(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
}
