using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The AVX2 tier's GEMM tile: <see cref="MicroKernel6x16.Fma6x16"/> (12 ymm accumulators, 15 of 16 registers) with the
/// BLIS zen2/zen3 sgemm blocking: the 16-wide KC=256 micro-panel of B is 16 KiB (L1), MC=144 rows of A 144 KiB (L2),
/// KC×NC of B 2 MiB (L3).
/// </summary>
internal readonly unsafe struct Tile6x16Avx2 : IGemmTile
{
    public static IsaTier Tier => IsaTier.Avx2;
    public static int MR => 6;
    public static int NR => 16;
    public static int KC => 256;
    public static int MC => 144;
    public static int NC => 2048;
    public static string Name => "gemm6x16 avx2";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate) =>
        MicroKernel6x16.Fma6x16(kc, a, b, ldb, c, ldc, rowInit, accumulate);
}
