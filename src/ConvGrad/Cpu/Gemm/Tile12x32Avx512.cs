using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The AVX-512 tier's GEMM tile: 12 rows × 32 columns (two <c>Vector512</c> per row), 24 zmm accumulators, two B
/// vectors and one broadcast, k unrolled ×2 (<see cref="GemmTile"/>) — the shape measured at 94–99% of the 512-bit FMA peak. A KC=256 block of
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
        GemmTile.Run<Isa512, Vector512<float>, C12, C2, C2>(kc, a, b, ldb, c, ldc, rowInit, accumulate);
}
