using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The vector operations the blocked kernels need, as static members of a struct type parameter, so one kernel
/// source serves <see cref="Vector512{T}"/> (16 lanes) and <see cref="Vector256{T}"/> (8 lanes): the JIT compiles a
/// separate body per struct instantiation and inlines these calls, which become single instructions (the broadcast
/// folds into the FMA as an embedded broadcast where it is used once).
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

/// <summary>A compile-time integer for kernel shapes: the JIT folds <see cref="Value"/> per struct instantiation.</summary>
internal interface IConstant
{
    /// <summary>The value.</summary>
    static abstract int Value { get; }
}

#pragma warning disable CS1591 // the constants are self-describing
internal struct C0 : IConstant { public static int Value => 0; }
internal struct C1 : IConstant { public static int Value => 1; }
internal struct C2 : IConstant { public static int Value => 2; }
internal struct C3 : IConstant { public static int Value => 3; }
internal struct C4 : IConstant { public static int Value => 4; }
internal struct C5 : IConstant { public static int Value => 5; }
internal struct C6 : IConstant { public static int Value => 6; }
internal struct C7 : IConstant { public static int Value => 7; }
internal struct C8 : IConstant { public static int Value => 8; }
internal struct C9 : IConstant { public static int Value => 9; }
internal struct C10 : IConstant { public static int Value => 10; }
internal struct C11 : IConstant { public static int Value => 11; }
internal struct C12 : IConstant { public static int Value => 12; }
internal struct C13 : IConstant { public static int Value => 13; }
internal struct C14 : IConstant { public static int Value => 14; }
#pragma warning restore CS1591
