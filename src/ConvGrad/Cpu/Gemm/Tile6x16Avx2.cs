using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The AVX2 tier's GEMM tile: 6 rows × 2 <c>Vector256</c> (12 ymm accumulators, two B vectors and one broadcast: 15 of 16
/// registers), k unrolled ×4 (<see cref="GemmTile"/>), with the BLIS zen2/zen3 sgemm blocking: the 16-wide KC=256
/// micro-panel of B is 16 KiB (L1), MC=144 rows of A 144 KiB (L2), KC×NC of B 2 MiB (L3).
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
        GemmTile.Run<Isa256, Vector256<float>, C6, C2, C4>(kc, a, b, ldb, c, ldc, rowInit, accumulate);
}
