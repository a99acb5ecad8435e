using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Kernels;

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
        GemmTile.Run<Isa128, Vector128<float>, C6, C2, C1>(kc, a, b, ldb, c, ldc, rowInit, accumulate);
}
