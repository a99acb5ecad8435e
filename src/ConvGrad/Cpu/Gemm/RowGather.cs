using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The one read the convolution packers do: <c>dst[e] = row[x0 + e·step]</c> for <c>e ∈ [0, len)</c>, with 0 where
/// <c>x0 + e·step</c> falls outside <c>[0, width)</c> (the zero padding, written, never read). The in-bounds range is
/// computed once, so the copy loop has no per-element test. Generic over the tile <c>TK</c> only for its tier and
/// panel width: the vector instructions used are the tier's own (<see cref="TileRows"/>).
/// </summary>
internal static unsafe class RowGather
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather<TK>(float* dst, float* row, int width, int x0, int step, int len) where TK : struct, IGemmTile
    {
        if (step == 1)
        {
            if (x0 >= 0 && x0 + len <= width)
            {
                if (len == TK.NR)
                {
                    TileRows.Copy<TK>(dst, row + x0, TK.NR);
                }
                else
                {
                    CopyShort<TK>(dst, row + x0, len);
                }
                return;
            }
            GatherClipped<TK>(dst, row, width, x0, len);
            return;
        }
        GatherGeneral<TK>(dst, row, width, x0, step, len);
    }

    /// <summary>
    /// A contiguous run that overlaps the padding (the border taps of every row of a small image): zeros before
    /// and after, one vector copy of the in-bounds middle, instead of an element-by-element loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherClipped<TK>(float* dst, float* row, int width, int x0, int len) where TK : struct, IGemmTile
    {
        int lo = Math.Clamp(-x0, 0, len);
        int hi = Math.Clamp(width - x0, lo, len);
        for (int e = 0; e < lo; e++)
        {
            dst[e] = 0f;
        }
        CopyShort<TK>(dst + lo, row + x0 + lo, hi - lo);
        for (int e = hi; e < len; e++)
        {
            dst[e] = 0f;
        }
    }

    /// <summary>Copies a run of up to a few dozen floats with (overlapping) vector moves instead of a memmove call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyShort<TK>(float* dst, float* src, int len) where TK : struct, IGemmTile
    {
        if (TK.Tier >= IsaTier.Avx2 && Vector256.IsHardwareAccelerated && len >= 8)
        {
            int e = 0;
            for (; e + 8 <= len; e += 8)
            {
                Vector256.Store(Vector256.Load(src + e), dst + e);
            }
            if (e < len)
            {
                Vector256.Store(Vector256.Load(src + len - 8), dst + len - 8);
            }
        }
        else if (len >= 4)
        {
            int e = 0;
            for (; e + 4 <= len; e += 4)
            {
                Vector128.Store(Vector128.Load(src + e), dst + e);
            }
            if (e < len)
            {
                Vector128.Store(Vector128.Load(src + len - 4), dst + len - 4);
            }
        }
        else
        {
            for (int e = 0; e < len; e++)
            {
                dst[e] = src[e];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherGeneral<TK>(float* dst, float* row, int width, int x0, int step, int len) where TK : struct, IGemmTile
    {
        int lo = x0 >= 0 ? 0 : (-x0 + step - 1) / step;
        int hi = x0 >= width ? 0 : (width - 1 - x0) / step + 1;
        lo = Math.Min(lo, len);
        hi = Math.Max(lo, Math.Min(hi, len));
        int e = 0;
        for (; e < lo; e++)
        {
            dst[e] = 0f;
        }
        float* s = row + x0 + (nint)lo * step;
        if (step == 2 && TK.Tier >= IsaTier.Avx2 && Avx2.IsSupported)
        {
            // Stride 2 (strided convolutions): 16 consecutive inputs, keep the even ones. Only while all 16 lie in the row.
            for (; e + 8 <= hi && (s - row) + 16 <= width; e += 8, s += 16)
            {
                var a = Avx.LoadVector256(s);
                var b = Avx.LoadVector256(s + 8);
                var even = Avx.Shuffle(a, b, 0b10_00_10_00);     // s0 s2 s8 s10 | s4 s6 s12 s14
                Avx.Store(dst + e, Avx2.Permute4x64(even.AsDouble(), 0b11_01_10_00).AsSingle());
            }
        }
        for (; e < hi; e++)
        {
            dst[e] = *s;
            s += step;
        }
        for (; e < len; e++)
        {
            dst[e] = 0f;
        }
    }

    /// <summary><c>dst[e·ds] = 0</c> for <c>e ∈ [0, len)</c>.</summary>
    public static void Zero(float* dst, nint ds, int len)
    {
        for (int e = 0; e < len; e++)
        {
            dst[e * ds] = 0f;
        }
    }
}
