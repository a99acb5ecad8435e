using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// Short row copies and fills for the GEMM's edge tiles and packers, in the widest vectors the tile's tier allows
/// (so the portable tier only ever runs <c>Vector128</c> code). The tier tests are JIT-time constants.
/// </summary>
internal static unsafe class TileRows
{
    /// <summary><c>dst[0..len) = src[0..len)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy<TK>(float* dst, float* src, int len) where TK : struct, IGemmTile
    {
        int j = 0;
        if (TK.Tier == IsaTier.Avx512 && Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= len; j += 16)
            {
                Vector512.Store(Vector512.Load(src + j), dst + j);
            }
        }
        if (TK.Tier >= IsaTier.Avx2 && Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= len; j += 8)
            {
                Vector256.Store(Vector256.Load(src + j), dst + j);
            }
        }
        for (; j + 4 <= len; j += 4)
        {
            Vector128.Store(Vector128.Load(src + j), dst + j);
        }
        for (; j < len; j++)
        {
            dst[j] = src[j];
        }
    }

    /// <summary><c>dst[0..len) = value</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill<TK>(float* dst, float value, int len) where TK : struct, IGemmTile
    {
        int j = 0;
        if (TK.Tier == IsaTier.Avx512 && Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= len; j += 16)
            {
                Vector512.Store(Vector512.Create(value), dst + j);
            }
        }
        if (TK.Tier >= IsaTier.Avx2 && Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= len; j += 8)
            {
                Vector256.Store(Vector256.Create(value), dst + j);
            }
        }
        for (; j + 4 <= len; j += 4)
        {
            Vector128.Store(Vector128.Create(value), dst + j);
        }
        for (; j < len; j++)
        {
            dst[j] = value;
        }
    }
}
