using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The portable tier's GEMM tile: 6 rows × 8 columns of <c>Vector128</c> (12 accumulators, two B vectors and one
/// broadcast: 15 registers, within the 16 of SSE and the 32 of ARM64 NEON). Only cross-platform <c>Vector128</c>
/// operations, so no AVX2 or FMA intrinsic is ever reached; <c>Vector128.FusedMultiplyAdd</c> rounds once on every
/// platform (in hardware where there is an FMA unit), so each element is the same FMA chain as in the wider tiles.
/// </summary>
internal readonly unsafe struct Tile6x8Portable : IGemmTile
{
    public static IsaTier Tier => IsaTier.Portable;
    public static int MR => 6;
    public static int NR => 8;
    public static int KC => 256;
    public static int MC => 144;
    public static int NC => 2048;
    public static string Name => "gemm6x8 portable";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate) =>
        Kernel(kc, a, b, ldb, c, ldc, rowInit, accumulate);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        Vector128<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate)
        {
            c00 = Vector128.Load(c); c01 = Vector128.Load(c + 4);
            c10 = Vector128.Load(c + ldc); c11 = Vector128.Load(c + ldc + 4);
            c20 = Vector128.Load(c + 2 * ldc); c21 = Vector128.Load(c + 2 * ldc + 4);
            c30 = Vector128.Load(c + 3 * ldc); c31 = Vector128.Load(c + 3 * ldc + 4);
            c40 = Vector128.Load(c + 4 * ldc); c41 = Vector128.Load(c + 4 * ldc + 4);
            c50 = Vector128.Load(c + 5 * ldc); c51 = Vector128.Load(c + 5 * ldc + 4);
        }
        else if (rowInit != null)
        {
            c00 = c01 = Vector128.Create(rowInit[0]);
            c10 = c11 = Vector128.Create(rowInit[1]);
            c20 = c21 = Vector128.Create(rowInit[2]);
            c30 = c31 = Vector128.Create(rowInit[3]);
            c40 = c41 = Vector128.Create(rowInit[4]);
            c50 = c51 = Vector128.Create(rowInit[5]);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector128<float>.Zero;
        }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var av = Vector128.Create(a[0]); c00 = Vector128.FusedMultiplyAdd(av, b0, c00); c01 = Vector128.FusedMultiplyAdd(av, b1, c01);
            av = Vector128.Create(a[1]); c10 = Vector128.FusedMultiplyAdd(av, b0, c10); c11 = Vector128.FusedMultiplyAdd(av, b1, c11);
            av = Vector128.Create(a[2]); c20 = Vector128.FusedMultiplyAdd(av, b0, c20); c21 = Vector128.FusedMultiplyAdd(av, b1, c21);
            av = Vector128.Create(a[3]); c30 = Vector128.FusedMultiplyAdd(av, b0, c30); c31 = Vector128.FusedMultiplyAdd(av, b1, c31);
            av = Vector128.Create(a[4]); c40 = Vector128.FusedMultiplyAdd(av, b0, c40); c41 = Vector128.FusedMultiplyAdd(av, b1, c41);
            av = Vector128.Create(a[5]); c50 = Vector128.FusedMultiplyAdd(av, b0, c50); c51 = Vector128.FusedMultiplyAdd(av, b1, c51);
            b += ldb;
            a += 6;
        }
        c00.Store(c); c01.Store(c + 4);
        c10.Store(c + ldc); c11.Store(c + ldc + 4);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 4);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 4);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 4);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 4);
    }
}
