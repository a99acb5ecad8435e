using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu;

/// <summary>8×8 float transposes with AVX, for the packers and layout changes that turn rows into columns.</summary>
internal static unsafe class Transposes
{
    /// <summary>Whether the transposes can run (AVX).</summary>
    public static bool IsSupported => Avx.IsSupported;

    /// <summary><c>dst[t·ldd + q] = src[q·lds + t]</c> for q, t &lt; 8: the standard unpack / shuffle / lane-permute transpose.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(float* src, nint lds, float* dst, nint ldd)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds);
        var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds);
        var r5 = Avx.LoadVector256(src + 5 * lds);
        var r6 = Avx.LoadVector256(src + 6 * lds);
        var r7 = Avx.LoadVector256(src + 7 * lds);
        Store(r0, r1, r2, r3, r4, r5, r6, r7, dst, ldd);
    }

    /// <summary>The transpose of eight rows given by pointers (rows of other planes): <c>dst[t·ldd + q] = rows[q][t]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(float** rows, nint offset, float* dst, nint ldd) =>
        Store(Avx.LoadVector256(rows[0] + offset), Avx.LoadVector256(rows[1] + offset), Avx.LoadVector256(rows[2] + offset),
            Avx.LoadVector256(rows[3] + offset), Avx.LoadVector256(rows[4] + offset), Avx.LoadVector256(rows[5] + offset),
            Avx.LoadVector256(rows[6] + offset), Avx.LoadVector256(rows[7] + offset), dst, ldd);

    /// <summary>The transpose into eight rows given by pointers: <c>rows[t][offset + q] = src[q·lds + t]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(float* src, nint lds, float** rows, nint offset)
    {
        Transpose(Avx.LoadVector256(src), Avx.LoadVector256(src + lds), Avx.LoadVector256(src + 2 * lds), Avx.LoadVector256(src + 3 * lds),
            Avx.LoadVector256(src + 4 * lds), Avx.LoadVector256(src + 5 * lds), Avx.LoadVector256(src + 6 * lds), Avx.LoadVector256(src + 7 * lds),
            out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
        Avx.Store(rows[0] + offset, o0);
        Avx.Store(rows[1] + offset, o1);
        Avx.Store(rows[2] + offset, o2);
        Avx.Store(rows[3] + offset, o3);
        Avx.Store(rows[4] + offset, o4);
        Avx.Store(rows[5] + offset, o5);
        Avx.Store(rows[6] + offset, o6);
        Avx.Store(rows[7] + offset, o7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, nint ldd)
    {
        Transpose(r0, r1, r2, r3, r4, r5, r6, r7, out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
        Avx.Store(dst, o0);
        Avx.Store(dst + ldd, o1);
        Avx.Store(dst + 2 * ldd, o2);
        Avx.Store(dst + 3 * ldd, o3);
        Avx.Store(dst + 4 * ldd, o4);
        Avx.Store(dst + 5 * ldd, o5);
        Avx.Store(dst + 6 * ldd, o6);
        Avx.Store(dst + 7 * ldd, o7);
    }

    /// <summary>Rows r0..r7 in, columns o0..o7 out: unpack pairs, shuffle quads, then swap 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        out Vector256<float> o0, out Vector256<float> o1, out Vector256<float> o2, out Vector256<float> o3,
        out Vector256<float> o4, out Vector256<float> o5, out Vector256<float> o6, out Vector256<float> o7)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        o0 = Avx.Permute2x128(u0, u4, 0x20);
        o1 = Avx.Permute2x128(u1, u5, 0x20);
        o2 = Avx.Permute2x128(u2, u6, 0x20);
        o3 = Avx.Permute2x128(u3, u7, 0x20);
        o4 = Avx.Permute2x128(u0, u4, 0x31);
        o5 = Avx.Permute2x128(u1, u5, 0x31);
        o6 = Avx.Permute2x128(u2, u6, 0x31);
        o7 = Avx.Permute2x128(u3, u7, 0x31);
    }
}
