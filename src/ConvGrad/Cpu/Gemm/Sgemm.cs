using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// A plain row-major SGEMM on the BLIS driver: <c>C[M×N] = op(A)·op(B)</c> with <c>op(A)[m][k] = A[m·lda + k]</c> or,
/// transposed, <c>A[k·lda + m]</c> (likewise for B). The M×N tiles are split statically over the worker threads
/// (<see cref="TileSplit"/>), so the result does not depend on the thread count; the register tile is the planner's for
/// the ISA tier (<see cref="ConvPlanner.GemmTile"/>). Used by the linear layer.
/// </summary>
internal static unsafe class Sgemm
{
    /// <summary>Computes <c>C = op(A)·op(B)</c> (C is overwritten) on up to <paramref name="threads"/> threads, on the tier the options allow.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, int threads, ConvIsa isa = ConvIsa.Auto)
    {
        switch (ConvPlanner.GemmTile(IsaTiers.Resolve(isa)))
        {
            case GemmTileKind.Tile12x32Avx512:
                Multiply<Tile12x32Avx512>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, threads);
                break;
            case GemmTileKind.Tile6x16Avx2:
                Multiply<Tile6x16Avx2>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, threads);
                break;
            default:
                Multiply<Tile6x8Portable>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, threads);
                break;
        }
    }

    private static void Multiply<TK>(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, int threads)
        where TK : struct, IGemmTile
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
        var work = new Work<TK>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        long madds = (long)m * n * k;
        WorkerPool.Run(work, threads <= 1 || madds < GemmBlocking.ParallelThreshold ? 1 : threads);
    }

    private sealed class Work<TK>(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc)
        : IPartitionedWork where TK : struct, IGemmTile
    {
        public void Run(int part, int parts)
        {
            TileSplit.Of<TK>(m, n, part, parts, out int m0, out int m1, out int n0, out int n1);
            if (m1 <= m0 || n1 <= n0)
            {
                return;
            }
            var ws = GemmWorkspace.ForThisThread();
            ws.Ensure(GemmDriver<TK>.PackedAFloats(m1 - m0, k), GemmDriver<TK>.PackedBFloats(n1 - n0, k), 0);
            var output = GemmOutput.Plain(c, ldc);
            var pb = new StridedB<TK>(b, ldb, transB);
            if (transA)
            {
                var pa = new ColumnPanelsA<TK>(a, lda);
                GemmDriver<TK>.Run(ref pa, ref pb, k, output, m0, m1, n0, n1, ws);
            }
            else
            {
                var pa = new RowPanelsA<TK>(a, lda, int.MaxValue, 0);
                GemmDriver<TK>.Run(ref pa, ref pb, k, output, m0, m1, n0, n1, ws);
            }
        }
    }
}

/// <summary>A stored column by column: <c>A[m][k] = Src[k·ld + m]</c> (the transpose of a row-major matrix).</summary>
internal unsafe struct ColumnPanelsA<TK>(float* src, nint ld) : IPackA where TK : struct, IGemmTile
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void Pack(float* dst, int i0, int mc, int k0, int kc)
    {
        int MR = TK.MR;
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
internal unsafe struct StridedB<TK>(float* src, nint ld, bool transposed) : IPackB where TK : struct, IGemmTile
{
    public readonly float* Direct(out nint ldOut)
    {
        ldOut = ld;
        return transposed ? null : src;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly void Pack(float* dst, int k0, int kc, int j0, int nc)
    {
        int NR = TK.NR;
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
