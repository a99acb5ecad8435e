using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ConvGrad.Cpu.Gemm;

/// <summary>The dense matrix products of the fully connected layer, for either element type.</summary>
internal static class MatMul
{
    /// <summary>
    /// <c>C[m×n] = op(A)·op(B)</c>, row-major, op = transpose when asked: float32 on <see cref="Sgemm"/> (split
    /// statically over <paramref name="threads"/>; the result does not depend on the thread count), float64 on row dot products.
    /// </summary>
    public static unsafe void Multiply<T>(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, int threads, ConvIsa maxIsa)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        if (typeof(T) == typeof(float))
        {
            fixed (float* pa = MemoryMarshal.Cast<T, float>(a))
            fixed (float* pb = MemoryMarshal.Cast<T, float>(b))
            fixed (float* pc = MemoryMarshal.Cast<T, float>(c))
            {
                Sgemm.Multiply(transA, transB, m, n, k, pa, lda, pb, ldb, pc, n, threads, maxIsa);
            }
            return;
        }
        // float64 (gradient checks): C row i = Σ_k op(A)[i, k] · op(B)[k, :], with op(B) rows gathered when transposed.
        var sa = a;
        var sb = b;
        var sc = c;
        sc.Clear();
        var bt = new T[(long)k * n];
        for (int kk = 0; kk < k; kk++)
        {
            for (int j = 0; j < n; j++)
            {
                bt[kk * n + j] = transB ? sb[j * ldb + kk] : sb[kk * ldb + j];
            }
        }
        for (int i = 0; i < m; i++)
        {
            var row = sc.Slice(i * n, n);
            for (int kk = 0; kk < k; kk++)
            {
                T aik = transA ? sa[kk * lda + i] : sa[i * lda + kk];
                TensorPrimitives.MultiplyAdd(bt.AsSpan(kk * n, n), aik, row, row);
            }
        }
    }
}
