using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// An alternative AVX-512 tile: 8 rows × 48 columns (three <c>Vector512</c> per row), 24 zmm accumulators, three B
/// vectors and one broadcast. Eight rows divide the usual channel counts (no partial row tiles at 64, 128, …);
/// KC=192 keeps the 48-wide B micro-panel at 36 KiB in L1.
/// </summary>
internal readonly unsafe struct Tile8x48Avx512 : IGemmTile
{
    public static IsaTier Tier => IsaTier.Avx512;
    public static int MR => 8;
    public static int NR => 48;
    public static int KC => 192;
    public static int MC => 192;
    public static int NC => 2016;
    public static string Name => "gemm8x48 avx512";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate) =>
        Kernel(kc, a, b, ldb, c, ldc, rowInit, accumulate);

    /// <summary>24 Vector512 accumulators, 3 B vectors and one broadcast (28 of 32 zmm); k unrolled ×2.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        Vector512<float> c0_0, c0_1, c0_2, c1_0, c1_1, c1_2, c2_0, c2_1, c2_2, c3_0, c3_1, c3_2, c4_0, c4_1, c4_2, c5_0, c5_1, c5_2, c6_0, c6_1, c6_2, c7_0, c7_1, c7_2;
        if (accumulate)
        {
            c0_0 = Avx512F.LoadVector512(c); c0_1 = Avx512F.LoadVector512(c + 16); c0_2 = Avx512F.LoadVector512(c + 32);
            c1_0 = Avx512F.LoadVector512(c + ldc); c1_1 = Avx512F.LoadVector512(c + ldc + 16); c1_2 = Avx512F.LoadVector512(c + ldc + 32);
            c2_0 = Avx512F.LoadVector512(c + 2 * ldc); c2_1 = Avx512F.LoadVector512(c + 2 * ldc + 16); c2_2 = Avx512F.LoadVector512(c + 2 * ldc + 32);
            c3_0 = Avx512F.LoadVector512(c + 3 * ldc); c3_1 = Avx512F.LoadVector512(c + 3 * ldc + 16); c3_2 = Avx512F.LoadVector512(c + 3 * ldc + 32);
            c4_0 = Avx512F.LoadVector512(c + 4 * ldc); c4_1 = Avx512F.LoadVector512(c + 4 * ldc + 16); c4_2 = Avx512F.LoadVector512(c + 4 * ldc + 32);
            c5_0 = Avx512F.LoadVector512(c + 5 * ldc); c5_1 = Avx512F.LoadVector512(c + 5 * ldc + 16); c5_2 = Avx512F.LoadVector512(c + 5 * ldc + 32);
            c6_0 = Avx512F.LoadVector512(c + 6 * ldc); c6_1 = Avx512F.LoadVector512(c + 6 * ldc + 16); c6_2 = Avx512F.LoadVector512(c + 6 * ldc + 32);
            c7_0 = Avx512F.LoadVector512(c + 7 * ldc); c7_1 = Avx512F.LoadVector512(c + 7 * ldc + 16); c7_2 = Avx512F.LoadVector512(c + 7 * ldc + 32);
        }
        else if (rowInit != null)
        {
            c0_0 = c0_1 = c0_2 = Vector512.Create(rowInit[0]);
            c1_0 = c1_1 = c1_2 = Vector512.Create(rowInit[1]);
            c2_0 = c2_1 = c2_2 = Vector512.Create(rowInit[2]);
            c3_0 = c3_1 = c3_2 = Vector512.Create(rowInit[3]);
            c4_0 = c4_1 = c4_2 = Vector512.Create(rowInit[4]);
            c5_0 = c5_1 = c5_2 = Vector512.Create(rowInit[5]);
            c6_0 = c6_1 = c6_2 = Vector512.Create(rowInit[6]);
            c7_0 = c7_1 = c7_2 = Vector512.Create(rowInit[7]);
        }
        else
        {
            c0_0 = c0_1 = c0_2 = c1_0 = c1_1 = c1_2 = c2_0 = c2_1 = c2_2 = c3_0 = c3_1 = c3_2 = c4_0 = c4_1 = c4_2 = c5_0 = c5_1 = c5_2 = c6_0 = c6_1 = c6_2 = c7_0 = c7_1 = c7_2 = Vector512<float>.Zero;
        }
        int k = 0;
        for (; k + 2 <= kc; k += 2)
        {
            Vector512<float> b0, b1, b2, av;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16); b2 = Avx512F.LoadVector512(b + 32);
            av = Vector512.Create(a[0]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1); c0_2 = Avx512F.FusedMultiplyAdd(av, b2, c0_2);
            av = Vector512.Create(a[1]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1); c1_2 = Avx512F.FusedMultiplyAdd(av, b2, c1_2);
            av = Vector512.Create(a[2]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1); c2_2 = Avx512F.FusedMultiplyAdd(av, b2, c2_2);
            av = Vector512.Create(a[3]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1); c3_2 = Avx512F.FusedMultiplyAdd(av, b2, c3_2);
            av = Vector512.Create(a[4]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1); c4_2 = Avx512F.FusedMultiplyAdd(av, b2, c4_2);
            av = Vector512.Create(a[5]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1); c5_2 = Avx512F.FusedMultiplyAdd(av, b2, c5_2);
            av = Vector512.Create(a[6]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1); c6_2 = Avx512F.FusedMultiplyAdd(av, b2, c6_2);
            av = Vector512.Create(a[7]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1); c7_2 = Avx512F.FusedMultiplyAdd(av, b2, c7_2);
            b += ldb;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16); b2 = Avx512F.LoadVector512(b + 32);
            av = Vector512.Create(a[8]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1); c0_2 = Avx512F.FusedMultiplyAdd(av, b2, c0_2);
            av = Vector512.Create(a[9]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1); c1_2 = Avx512F.FusedMultiplyAdd(av, b2, c1_2);
            av = Vector512.Create(a[10]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1); c2_2 = Avx512F.FusedMultiplyAdd(av, b2, c2_2);
            av = Vector512.Create(a[11]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1); c3_2 = Avx512F.FusedMultiplyAdd(av, b2, c3_2);
            av = Vector512.Create(a[12]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1); c4_2 = Avx512F.FusedMultiplyAdd(av, b2, c4_2);
            av = Vector512.Create(a[13]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1); c5_2 = Avx512F.FusedMultiplyAdd(av, b2, c5_2);
            av = Vector512.Create(a[14]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1); c6_2 = Avx512F.FusedMultiplyAdd(av, b2, c6_2);
            av = Vector512.Create(a[15]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1); c7_2 = Avx512F.FusedMultiplyAdd(av, b2, c7_2);
            b += ldb;
            a += 16;
        }
        for (; k < kc; k++)
        {
            Vector512<float> b0, b1, b2, av;
            b0 = Avx512F.LoadVector512(b + 0); b1 = Avx512F.LoadVector512(b + 16); b2 = Avx512F.LoadVector512(b + 32);
            av = Vector512.Create(a[0]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1); c0_2 = Avx512F.FusedMultiplyAdd(av, b2, c0_2);
            av = Vector512.Create(a[1]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1); c1_2 = Avx512F.FusedMultiplyAdd(av, b2, c1_2);
            av = Vector512.Create(a[2]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1); c2_2 = Avx512F.FusedMultiplyAdd(av, b2, c2_2);
            av = Vector512.Create(a[3]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1); c3_2 = Avx512F.FusedMultiplyAdd(av, b2, c3_2);
            av = Vector512.Create(a[4]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1); c4_2 = Avx512F.FusedMultiplyAdd(av, b2, c4_2);
            av = Vector512.Create(a[5]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1); c5_2 = Avx512F.FusedMultiplyAdd(av, b2, c5_2);
            av = Vector512.Create(a[6]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1); c6_2 = Avx512F.FusedMultiplyAdd(av, b2, c6_2);
            av = Vector512.Create(a[7]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1); c7_2 = Avx512F.FusedMultiplyAdd(av, b2, c7_2);
            b += ldb;
            a += 8;
        }
        Avx512F.Store(c, c0_0); Avx512F.Store(c + 16, c0_1); Avx512F.Store(c + 32, c0_2);
        Avx512F.Store(c + ldc, c1_0); Avx512F.Store(c + ldc + 16, c1_1); Avx512F.Store(c + ldc + 32, c1_2);
        Avx512F.Store(c + 2 * ldc, c2_0); Avx512F.Store(c + 2 * ldc + 16, c2_1); Avx512F.Store(c + 2 * ldc + 32, c2_2);
        Avx512F.Store(c + 3 * ldc, c3_0); Avx512F.Store(c + 3 * ldc + 16, c3_1); Avx512F.Store(c + 3 * ldc + 32, c3_2);
        Avx512F.Store(c + 4 * ldc, c4_0); Avx512F.Store(c + 4 * ldc + 16, c4_1); Avx512F.Store(c + 4 * ldc + 32, c4_2);
        Avx512F.Store(c + 5 * ldc, c5_0); Avx512F.Store(c + 5 * ldc + 16, c5_1); Avx512F.Store(c + 5 * ldc + 32, c5_2);
        Avx512F.Store(c + 6 * ldc, c6_0); Avx512F.Store(c + 6 * ldc + 16, c6_1); Avx512F.Store(c + 6 * ldc + 32, c6_2);
        Avx512F.Store(c + 7 * ldc, c7_0); Avx512F.Store(c + 7 * ldc + 16, c7_1); Avx512F.Store(c + 7 * ldc + 32, c7_2);
    }
}
