using ILGPU;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// The one thread-block tile shared by the three implicit-GEMM kernels (the only place for blocking constants):
/// a CTA of <see cref="Threads"/> threads computes a <see cref="BM"/>×<see cref="BN"/> block of C = A·B, stepping
/// through the reduction <see cref="BK"/> at a time through shared memory; each thread owns a 4×4 micro-tile at
/// rows <c>ty + 16·i</c> and columns <c>tx + 16·j</c> (strided so that a warp reads shared memory without bank
/// conflicts and writes global memory coalesced).
/// </summary>
internal static class GemmTile
{
    public const int BM = 64, BN = 64, BK = 8, Threads = 256;

    /// <summary>Threads per row/column of the micro-tile grid (16×16 threads × 4×4 elements = 64×64).</summary>
    public const int Lanes = 16;

    /// <summary>acc += As[0..BK, ty + 16i] ⊗ Bs[0..BK, tx + 16j] for the calling thread's 4×4 micro-tile.</summary>
    public static void MultiplyAccumulate(ref Acc4x4 acc, ArrayView<float> As, ArrayView<float> Bs, int ty, int tx)
    {
        for (int kk = 0; kk < BK; kk++)
        {
            int a = kk * BM + ty;
            int b = kk * BN + tx;
            acc.Fma(As[a], As[a + 16], As[a + 32], As[a + 48], Bs[b], Bs[b + 16], Bs[b + 32], Bs[b + 48]);
        }
    }
}

/// <summary>
/// Sixteen float accumulators as scalar fields, so that ILGPU keeps them in registers (a private array could be
/// placed in local memory).
/// </summary>
internal struct Acc4x4
{
    public float C00, C01, C02, C03, C10, C11, C12, C13, C20, C21, C22, C23, C30, C31, C32, C33;

    /// <summary>C[i, j] += a_i · b_j (rank-1 update).</summary>
    public void Fma(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
    {
        C00 += a0 * b0; C01 += a0 * b1; C02 += a0 * b2; C03 += a0 * b3;
        C10 += a1 * b0; C11 += a1 * b1; C12 += a1 * b2; C13 += a1 * b3;
        C20 += a2 * b0; C21 += a2 * b1; C22 += a2 * b2; C23 += a2 * b3;
        C30 += a3 * b0; C31 += a3 * b1; C32 += a3 * b2; C33 += a3 * b3;
    }

    /// <summary>C[i, j] for constant (unrolled) i, j.</summary>
    public readonly float Get(int i, int j) => (i * 4 + j) switch
    {
        0 => C00, 1 => C01, 2 => C02, 3 => C03,
        4 => C10, 5 => C11, 6 => C12, 7 => C13,
        8 => C20, 9 => C21, 10 => C22, 11 => C23,
        12 => C30, 13 => C31, 14 => C32, _ => C33,
    };
}
