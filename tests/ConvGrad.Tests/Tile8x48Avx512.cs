using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Gemm;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Tests;

/// <summary>
/// A GEMM tile the engine does not use, kept to check the generated <see cref="GemmTile"/> at a shape the tiers do not
/// reach: 8 rows × 3 <c>Vector512</c> (24 zmm accumulators, three B vectors and one broadcast), k unrolled ×2.
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
        GemmTile.Run<Isa512, Vector512<float>, C8, C3, C2>(kc, a, b, ldb, c, ldc, rowInit, accumulate);
}
