using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The AVX-512 tier's GEMM tile: 12 rows × 32 columns (two <c>Vector512</c> per row), 24 zmm accumulators, two B
/// vectors and one broadcast, k unrolled ×2 — the shape measured at 94–99% of the 512-bit FMA peak. A KC=256 block of
/// B's 32-wide micro-panel is 32 KiB (L1 on Zen 5 and Sapphire Rapids: 48 KiB), an MC=192 block of A 192 KiB (L2).
/// </summary>
internal readonly unsafe struct Tile12x32Avx512 : IGemmTile
{
    public static IsaTier Tier => IsaTier.Avx512;
    public static int MR => 12;
    public static int NR => 32;
    public static int KC => 256;
    public static int MC => 192;
    public static int NC => 2048;
    public static string Name => "gemm12x32 avx512";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate) =>
        Kernel(kc, a, b, ldb, c, ldc, rowInit, accumulate);

    /// <summary>24 Vector512 accumulators, 2 B vectors and one broadcast (27 of 32 zmm); k unrolled ×2.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        Vector512<float> c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0, c3_1, c4_0, c4_1, c5_0, c5_1, c6_0, c6_1, c7_0, c7_1, c8_0, c8_1, c9_0, c9_1, c10_0, c10_1, c11_0, c11_1;
        if (accumulate)
        {
            c0_0 = Avx512F.LoadVector512(c); c0_1 = Avx512F.LoadVector512(c + 16);
            c1_0 = Avx512F.LoadVector512(c + ldc); c1_1 = Avx512F.LoadVector512(c + ldc + 16);
            c2_0 = Avx512F.LoadVector512(c + 2 * ldc); c2_1 = Avx512F.LoadVector512(c + 2 * ldc + 16);
            c3_0 = Avx512F.LoadVector512(c + 3 * ldc); c3_1 = Avx512F.LoadVector512(c + 3 * ldc + 16);
            c4_0 = Avx512F.LoadVector512(c + 4 * ldc); c4_1 = Avx512F.LoadVector512(c + 4 * ldc + 16);
            c5_0 = Avx512F.LoadVector512(c + 5 * ldc); c5_1 = Avx512F.LoadVector512(c + 5 * ldc + 16);
            c6_0 = Avx512F.LoadVector512(c + 6 * ldc); c6_1 = Avx512F.LoadVector512(c + 6 * ldc + 16);
            c7_0 = Avx512F.LoadVector512(c + 7 * ldc); c7_1 = Avx512F.LoadVector512(c + 7 * ldc + 16);
            c8_0 = Avx512F.LoadVector512(c + 8 * ldc); c8_1 = Avx512F.LoadVector512(c + 8 * ldc + 16);
            c9_0 = Avx512F.LoadVector512(c + 9 * ldc); c9_1 = Avx512F.LoadVector512(c + 9 * ldc + 16);
            c10_0 = Avx512F.LoadVector512(c + 10 * ldc); c10_1 = Avx512F.LoadVector512(c + 10 * ldc + 16);
            c11_0 = Avx512F.LoadVector512(c + 11 * ldc); c11_1 = Avx512F.LoadVector512(c + 11 * ldc + 16);
        }
        else if (rowInit != null)
        {
            c0_0 = c0_1 = Vector512.Create(rowInit[0]);
            c1_0 = c1_1 = Vector512.Create(rowInit[1]);
            c2_0 = c2_1 = Vector512.Create(rowInit[2]);
            c3_0 = c3_1 = Vector512.Create(rowInit[3]);
            c4_0 = c4_1 = Vector512.Create(rowInit[4]);
            c5_0 = c5_1 = Vector512.Create(rowInit[5]);
            c6_0 = c6_1 = Vector512.Create(rowInit[6]);
            c7_0 = c7_1 = Vector512.Create(rowInit[7]);
            c8_0 = c8_1 = Vector512.Create(rowInit[8]);
            c9_0 = c9_1 = Vector512.Create(rowInit[9]);
            c10_0 = c10_1 = Vector512.Create(rowInit[10]);
            c11_0 = c11_1 = Vector512.Create(rowInit[11]);
        }
        else
        {
            c0_0 = c0_1 = c1_0 = c1_1 = c2_0 = c2_1 = c3_0 = c3_1 = c4_0 = c4_1 = c5_0 = c5_1 = c6_0 = c6_1 = c7_0 = c7_1 = c8_0 = c8_1 = c9_0 = c9_1 = c10_0 = c10_1 = c11_0 = c11_1 = Vector512<float>.Zero;
        }
        int k = 0;
        for (; k + 2 <= kc; k += 2)
        {
            Vector512<float> b0, b1, av;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16);
            av = Vector512.Create(a[0]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1);
            av = Vector512.Create(a[1]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1);
            av = Vector512.Create(a[2]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1);
            av = Vector512.Create(a[3]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1);
            av = Vector512.Create(a[4]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1);
            av = Vector512.Create(a[5]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1);
            av = Vector512.Create(a[6]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1);
            av = Vector512.Create(a[7]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1);
            av = Vector512.Create(a[8]); c8_0 = Avx512F.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Avx512F.FusedMultiplyAdd(av, b1, c8_1);
            av = Vector512.Create(a[9]); c9_0 = Avx512F.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Avx512F.FusedMultiplyAdd(av, b1, c9_1);
            av = Vector512.Create(a[10]); c10_0 = Avx512F.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Avx512F.FusedMultiplyAdd(av, b1, c10_1);
            av = Vector512.Create(a[11]); c11_0 = Avx512F.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Avx512F.FusedMultiplyAdd(av, b1, c11_1);
            b += ldb;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16);
            av = Vector512.Create(a[12]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1);
            av = Vector512.Create(a[13]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1);
            av = Vector512.Create(a[14]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1);
            av = Vector512.Create(a[15]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1);
            av = Vector512.Create(a[16]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1);
            av = Vector512.Create(a[17]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1);
            av = Vector512.Create(a[18]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1);
            av = Vector512.Create(a[19]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1);
            av = Vector512.Create(a[20]); c8_0 = Avx512F.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Avx512F.FusedMultiplyAdd(av, b1, c8_1);
            av = Vector512.Create(a[21]); c9_0 = Avx512F.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Avx512F.FusedMultiplyAdd(av, b1, c9_1);
            av = Vector512.Create(a[22]); c10_0 = Avx512F.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Avx512F.FusedMultiplyAdd(av, b1, c10_1);
            av = Vector512.Create(a[23]); c11_0 = Avx512F.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Avx512F.FusedMultiplyAdd(av, b1, c11_1);
            b += ldb;
            a += 24;
        }
        for (; k < kc; k++)
        {
            Vector512<float> b0, b1, av;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16);
            av = Vector512.Create(a[0]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1);
            av = Vector512.Create(a[1]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1);
            av = Vector512.Create(a[2]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1);
            av = Vector512.Create(a[3]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1);
            av = Vector512.Create(a[4]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1);
            av = Vector512.Create(a[5]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1);
            av = Vector512.Create(a[6]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1);
            av = Vector512.Create(a[7]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1);
            av = Vector512.Create(a[8]); c8_0 = Avx512F.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Avx512F.FusedMultiplyAdd(av, b1, c8_1);
            av = Vector512.Create(a[9]); c9_0 = Avx512F.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Avx512F.FusedMultiplyAdd(av, b1, c9_1);
            av = Vector512.Create(a[10]); c10_0 = Avx512F.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Avx512F.FusedMultiplyAdd(av, b1, c10_1);
            av = Vector512.Create(a[11]); c11_0 = Avx512F.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Avx512F.FusedMultiplyAdd(av, b1, c11_1);
            b += ldb;
            a += 12;
        }
        Avx512F.Store(c, c0_0); Avx512F.Store(c + 16, c0_1);
        Avx512F.Store(c + ldc, c1_0); Avx512F.Store(c + ldc + 16, c1_1);
        Avx512F.Store(c + 2 * ldc, c2_0); Avx512F.Store(c + 2 * ldc + 16, c2_1);
        Avx512F.Store(c + 3 * ldc, c3_0); Avx512F.Store(c + 3 * ldc + 16, c3_1);
        Avx512F.Store(c + 4 * ldc, c4_0); Avx512F.Store(c + 4 * ldc + 16, c4_1);
        Avx512F.Store(c + 5 * ldc, c5_0); Avx512F.Store(c + 5 * ldc + 16, c5_1);
        Avx512F.Store(c + 6 * ldc, c6_0); Avx512F.Store(c + 6 * ldc + 16, c6_1);
        Avx512F.Store(c + 7 * ldc, c7_0); Avx512F.Store(c + 7 * ldc + 16, c7_1);
        Avx512F.Store(c + 8 * ldc, c8_0); Avx512F.Store(c + 8 * ldc + 16, c8_1);
        Avx512F.Store(c + 9 * ldc, c9_0); Avx512F.Store(c + 9 * ldc + 16, c9_1);
        Avx512F.Store(c + 10 * ldc, c10_0); Avx512F.Store(c + 10 * ldc + 16, c10_1);
        Avx512F.Store(c + 11 * ldc, c11_0); Avx512F.Store(c + 11 * ldc + 16, c11_1);
    }
}
