using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The 6×16 register tile of the GEMM: <c>C[6×16] = init + Σ_{k&lt;kc} a[k]·b[k]ᵀ</c>, where <c>a</c> is a packed
/// A micro-panel <c>[kc][6]</c> and <c>b</c> a B micro-panel <c>[kc][16]</c> with row stride <c>ldb</c>
/// (16 when packed; the tensor's row stride when B is read in place). <c>init</c> is C itself when
/// <c>accumulate</c>, else <c>rowInit[i]</c> broadcast along row i when given (the bias), else 0.
/// Each element is the chain <c>acc = fma(a[k], b[k], acc)</c> for k = 0, 1, …, in that order, so the FMA
/// and scalar versions give bitwise identical results.
/// </summary>
internal static unsafe class MicroKernel6x16
{
    /// <summary>Whether the FMA kernel can run on this machine.</summary>
    public static bool FmaSupported => Fma.IsSupported && Avx.IsSupported;

    /// <summary>Dispatches to the FMA kernel where supported, else the scalar one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        if (Fma.IsSupported && Avx.IsSupported)
        {
            Fma6x16(kc, a, b, ldb, c, ldc, rowInit, accumulate);
        }
        else
        {
            Scalar6x16(kc, a, b, ldb, c, ldc, rowInit, accumulate);
        }
    }

    /// <summary>12 Vector256 accumulators, two B vectors and one broadcast (15 of 16 ymm); k unrolled ×4.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Fma6x16(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate)
        {
            c00 = Avx.LoadVector256(c); c01 = Avx.LoadVector256(c + 8);
            c10 = Avx.LoadVector256(c + ldc); c11 = Avx.LoadVector256(c + ldc + 8);
            c20 = Avx.LoadVector256(c + 2 * ldc); c21 = Avx.LoadVector256(c + 2 * ldc + 8);
            c30 = Avx.LoadVector256(c + 3 * ldc); c31 = Avx.LoadVector256(c + 3 * ldc + 8);
            c40 = Avx.LoadVector256(c + 4 * ldc); c41 = Avx.LoadVector256(c + 4 * ldc + 8);
            c50 = Avx.LoadVector256(c + 5 * ldc); c51 = Avx.LoadVector256(c + 5 * ldc + 8);
        }
        else if (rowInit != null)
        {
            c00 = c01 = Vector256.Create(rowInit[0]);
            c10 = c11 = Vector256.Create(rowInit[1]);
            c20 = c21 = Vector256.Create(rowInit[2]);
            c30 = c31 = Vector256.Create(rowInit[3]);
            c40 = c41 = Vector256.Create(rowInit[4]);
            c50 = c51 = Vector256.Create(rowInit[5]);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }

        int k = 0;
        for (; k + 4 <= kc; k += 4)
        {
            Vector256<float> b0, b1, av;
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b += ldb;
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 6); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 7); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 8); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 9); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 10); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 11); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b += ldb;
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 12); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 13); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 14); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 15); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 16); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 17); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b += ldb;
            b0 = Avx.LoadVector256(b); b1 = Avx.LoadVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 18); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 19); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 20); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 21); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 22); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 23); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b += ldb;
            a += 24;
        }
        for (; k < kc; k++)
        {
            Vector256<float> b0 = Avx.LoadVector256(b), b1 = Avx.LoadVector256(b + 8), av;
            av = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b += ldb;
            a += 6;
        }

        Avx.Store(c, c00); Avx.Store(c + 8, c01);
        Avx.Store(c + ldc, c10); Avx.Store(c + ldc + 8, c11);
        Avx.Store(c + 2 * ldc, c20); Avx.Store(c + 2 * ldc + 8, c21);
        Avx.Store(c + 3 * ldc, c30); Avx.Store(c + 3 * ldc + 8, c31);
        Avx.Store(c + 4 * ldc, c40); Avx.Store(c + 4 * ldc + 8, c41);
        Avx.Store(c + 5 * ldc, c50); Avx.Store(c + 5 * ldc + 8, c51);
    }

    /// <summary>The same contract without SIMD: one fused multiply-add chain per element, in the same order.</summary>
    [SkipLocalsInit]
    public static void Scalar6x16(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate)
    {
        const int MR = 6, NR = 16;
        float* acc = stackalloc float[MR * NR];
        for (int i = 0; i < MR; i++)
        {
            for (int j = 0; j < NR; j++)
            {
                acc[i * NR + j] = accumulate ? c[i * ldc + j] : rowInit != null ? rowInit[i] : 0f;
            }
        }
        for (int k = 0; k < kc; k++)
        {
            for (int i = 0; i < MR; i++)
            {
                float ai = a[i];
                for (int j = 0; j < NR; j++)
                {
                    acc[i * NR + j] = MathF.FusedMultiplyAdd(ai, b[j], acc[i * NR + j]);
                }
            }
            a += MR;
            b += ldb;
        }
        for (int i = 0; i < MR; i++)
        {
            for (int j = 0; j < NR; j++)
            {
                c[i * ldc + j] = acc[i * NR + j];
            }
        }
    }
}
