using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// A plain row-major SGEMM on the BLIS driver: <c>C[M×N] = op(A)·op(B)</c> with <c>op(A)[m][k] = A[m·lda + k]</c> or,
/// transposed, <c>A[k·lda + m]</c> (likewise for B). The M×N tiles are split statically over the worker threads
/// (<see cref="TileSplit"/>), so the result does not depend on the thread count. Used by the linear layer.
/// </summary>
internal static unsafe class Sgemm
{
    /// <summary>Computes <c>C = op(A)·op(B)</c> (C is overwritten) on up to <paramref name="threads"/> threads.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, int threads)
    {
        if (m <= 0 || n <= 0)
        {
            return;
        }
        if (k <= 0)
        {
            for (int i = 0; i < m; i++)
            {
                new Span<float>(c + (nint)i * ldc, n).Clear();
            }
            return;
        }
        var work = new Work(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        long madds = (long)m * n * k;
        WorkerPool.Run(work, threads <= 1 || madds < GemmBlocking.ParallelThreshold ? 1 : threads);
    }

    private sealed class Work(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc)
        : IPartitionedWork
    {
        public void Run(int part, int parts)
        {
            TileSplit.Of(m, n, part, parts, out int m0, out int m1, out int n0, out int n1);
            if (m1 <= m0 || n1 <= n0)
            {
                return;
            }
            var ws = GemmWorkspace.ForThisThread();
            ws.Ensure(GemmDriver.PackedAFloats(m1 - m0, k), GemmDriver.PackedBFloats(n1 - n0, k), 0);
            var output = GemmOutput.Plain(c, ldc);
            var pb = new StridedB(b, ldb, transB);
            if (transA)
            {
                var pa = new ColumnPanelsA(a, lda);
                GemmDriver.Run(ref pa, ref pb, k, output, m0, m1, n0, n1, ws);
            }
            else
            {
                var pa = new RowPanelsA(a, lda, int.MaxValue, 0);
                GemmDriver.Run(ref pa, ref pb, k, output, m0, m1, n0, n1, ws);
            }
        }
    }
}

/// <summary>A stored column by column: <c>A[m][k] = Src[k·ld + m]</c> (the transpose of a row-major matrix).</summary>
internal unsafe struct ColumnPanelsA(float* src, nint ld) : IPackA
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void Pack(float* dst, int i0, int mc, int k0, int kc)
    {
        const int MR = GemmBlocking.MR;
        for (int p = 0; p * MR < mc; p++)
        {
            float* pd = dst + (nint)p * kc * MR;
            int rows = Math.Min(MR, mc - p * MR);
            for (int kk = 0; kk < kc; kk++)
            {
                float* s = src + (k0 + kk) * ld + i0 + p * MR;
                float* d = pd + kk * MR;
                int i = 0;
                for (; i < rows; i++)
                {
                    d[i] = s[i];
                }
                for (; i < MR; i++)
                {
                    d[i] = 0;
                }
            }
        }
    }
}

/// <summary>
/// B row-major (<c>B[k][j] = Src[k·ld + j]</c>, read in place) or transposed (<c>B[k][j] = Src[j·ld + k]</c>, packed
/// into NR-column micro-panels).
/// </summary>
internal unsafe struct StridedB(float* src, nint ld, bool transposed) : IPackB
{
    public readonly float* Direct(out nint ldOut)
    {
        ldOut = ld;
        return transposed ? null : src;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        const int NR = GemmBlocking.NR;
        for (int p = 0; p * NR < nc; p++)
        {
            float* pd = dst + (nint)p * kc * NR;
            int cols = Math.Min(NR, nc - p * NR);
            if (transposed)
            {
                for (int jj = 0; jj < NR; jj++)
                {
                    if (jj >= cols)
                    {
                        for (int kk = 0; kk < kc; kk++)
                        {
                            pd[kk * NR + jj] = 0;
                        }
                        continue;
                    }
                    float* s = src + (nint)(j0 + p * NR + jj) * ld + k0;
                    for (int kk = 0; kk < kc; kk++)
                    {
                        pd[kk * NR + jj] = s[kk];
                    }
                }
            }
            else
            {
                for (int kk = 0; kk < kc; kk++)
                {
                    float* s = src + (k0 + kk) * ld + j0 + p * NR;
                    float* d = pd + kk * NR;
                    int jj = 0;
                    for (; jj < cols; jj++)
                    {
                        d[jj] = s[jj];
                    }
                    for (; jj < NR; jj++)
                    {
                        d[jj] = 0;
                    }
                }
            }
        }
    }
}
