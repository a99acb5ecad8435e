using System.Runtime.CompilerServices;
using static ConvGrad.Cpu.Gemm.GemmBlocking;

namespace ConvGrad.Cpu.Gemm;

/// <summary>Packs rows <c>[i0, i0+mc)</c> × reduction <c>[k0, k0+kc)</c> of A into the tile's MR-row micro-panels <c>[kc][MR]</c>, zero rows past the end.</summary>
internal unsafe interface IPackA
{
    /// <summary>Writes ceil(mc/MR) panels of kc·MR floats to <paramref name="dst"/>.</summary>
    void Pack(float* dst, int i0, int mc, int k0, int kc);
}

/// <summary>Packs reduction <c>[k0, k0+kc)</c> × columns <c>[j0, j0+nc)</c> of B into the tile's NR-column micro-panels <c>[kc][NR]</c>, zero columns past the end.</summary>
internal unsafe interface IPackB
{
    /// <summary>Writes ceil(nc/NR) panels of kc·NR floats to <paramref name="dst"/>.</summary>
    void Pack(float* dst, int k0, int kc, int j0, int nc);

    /// <summary>When B is a plain row-major matrix in memory (read in place, no copy), its base and row stride; else null.</summary>
    float* Direct(out nint ld);
}

/// <summary>
/// Where C lives: element (m, j) is at <c>C + m·Ldc + col(j)</c>, the columns running over images of <c>SegLen</c>
/// columns each (<c>SegStride</c> floats apart): <c>col(j) = (j / SegLen)·SegStride + map(j mod SegLen)</c>, where
/// <c>map(r) = ColOff[r]</c> when a column map is given (strictly increasing; the scattered stores of backward-data
/// phases) or <c>r</c>. <c>Bias[m]</c>, when given, starts each sum.
/// </summary>
internal unsafe struct GemmOutput
{
    public float* C;
    public nint Ldc;
    public int* ColOff;
    public float* Bias;
    public int SegLen;
    public nint SegStride;

    /// <summary>A plain row-major C (one segment).</summary>
    public static GemmOutput Plain(float* c, nint ldc) => new() { C = c, Ldc = ldc, SegLen = int.MaxValue };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly nint Col(int j)
    {
        int q = j / SegLen, r = j - q * SegLen;
        return q * SegStride + (ColOff == null ? r : ColOff[r]);
    }

    /// <summary>Whether columns j .. j+nr−1 are consecutive in memory (one full-width store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Contiguous(int j, int nr)
    {
        int r = j % SegLen;
        return r <= SegLen - nr && (ColOff == null || ColOff[r + nr - 1] - ColOff[r] == nr - 1);
    }
}

/// <summary>
/// The BLIS loop nest around one tier's register tile <typeparamref name="TK"/>: <c>C[M×N] = bias + A[M×Kr]·B[Kr×N]</c> for the tile range
/// rows <c>[m0, m1)</c> × columns <c>[n0, n1)</c> (m0 a multiple of MR, n0 of NR). The loops are
/// <c>jc(NC) → pc(KC) → pack B → ic(MC) → pack A → jr(NR) → ir(MR)</c>. Every element's sum is the FMA chain over
/// k in order, restarted from C at each reduction-block boundary (<see cref="GemmBlocking.ReductionBlocks"/>), so the result does not depend on how tiles are split among threads.
/// </summary>
internal static unsafe class GemmDriver<TK> where TK : struct, IGemmTile
{
    private static int MR => TK.MR;
    private static int NR => TK.NR;
    private static int KC => TK.KC;
    private static int MC => TK.MC;
    private static int NC => TK.NC;

    /// <summary>Floats of packed A enough for <paramref name="m"/> rows and any reduction up to <paramref name="kr"/>.</summary>
    public static nint PackedAFloats(int m, int kr) => (nint)RoundUp(Math.Min(MC, m), MR) * MaxBlockUpTo(kr, KC);

    /// <summary>Floats of packed B enough for <paramref name="n"/> columns and any reduction up to <paramref name="kr"/>.</summary>
    public static nint PackedBFloats(int n, int kr) => (nint)RoundUp(Math.Min(NC, n), NR) * MaxBlockUpTo(kr, KC);

    /// <summary>Runs the tile range; <paramref name="ws"/> must hold <see cref="PackedAFloats"/> and <see cref="PackedBFloats"/> for the range.</summary>
    public static void Run<TA, TB>(ref TA pa, ref TB pb, int kr, in GemmOutput c, int m0, int m1, int n0, int n1, GemmWorkspace ws)
        where TA : struct, IPackA
        where TB : struct, IPackB
    {
        if (m1 <= m0 || n1 <= n0)
        {
            return;
        }
        if (c.ColOff == null)
        {
            RunBlocks(ref pa, ref pb, kr, c, m0, m1, n0, n1, ws);
            return;
        }
        // Scattered columns: compute a block of columns into a contiguous staging block (full tiles take the
        // direct-store kernel, reduction blocks accumulate there), then scatter it once. The FMA chain of every
        // element is the same as without staging.
        int rows = m1 - m0, width = StageColumns(rows, NR, NC);
        ws.EnsureStage((nint)rows * width);
        for (int jc = n0; jc < n1; jc += width)
        {
            int nc = Math.Min(width, n1 - jc);
            var staged = new GemmOutput { C = ws.Stage - (nint)m0 * nc - jc, Ldc = nc, Bias = c.Bias, SegLen = int.MaxValue };
            RunBlocks(ref pa, ref pb, kr, staged, m0, m1, jc, jc + nc, ws);
            Scatter(ws.Stage, nc, c, m0, m1, jc, jc + nc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scatter(float* stage, int nc, in GemmOutput c, int m0, int m1, int j0, int j1)
    {
        int q0 = j0 / c.SegLen, r0 = j0 - q0 * c.SegLen;
        for (int m = m0; m < m1; m++)
        {
            float* src = stage + (nint)(m - m0) * nc;
            float* image = c.C + m * c.Ldc + q0 * c.SegStride;
            int r = r0;
            for (int j = 0; j < j1 - j0; j++)
            {
                image[c.ColOff[r]] = src[j];
                if (++r == c.SegLen)
                {
                    r = 0;
                    image += c.SegStride;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunBlocks<TA, TB>(ref TA pa, ref TB pb, int kr, in GemmOutput c, int m0, int m1, int n0, int n1, GemmWorkspace ws)
        where TA : struct, IPackA
        where TB : struct, IPackB
    {
        float* bufA = ws.A, bufB = ws.B;
        float* direct = pb.Direct(out nint ld);
        for (int jc = n0; jc < n1; jc += NC)
        {
            int nc = Math.Min(NC, n1 - jc);
            int fullCols = nc / NR * NR;
            int blocks = ReductionBlocks(kr, KC);
            for (int blk = 0; blk < blocks; blk++)
            {
                int pc = BlockStart(kr, blk, blocks);
                int kc = BlockStart(kr, blk + 1, blocks) - pc;
                bool first = blk == 0;
                if ((nint)RoundUp(nc, NR) * kc > ws.BFloats || (nint)RoundUp(Math.Min(MC, m1 - m0), MR) * kc > ws.AFloats)
                {
                    throw new InvalidOperationException($"GEMM workspace too small for a {kc}-deep block of {nc} columns (internal error)");
                }
                if (direct == null)
                {
                    pb.Pack(bufB, pc, kc, jc, nc);
                }
                else if (fullCols < nc)
                {
                    pb.Pack(bufB, pc, kc, jc + fullCols, nc - fullCols);
                }
                for (int ic = m0; ic < m1; ic += MC)
                {
                    int mc = Math.Min(MC, m1 - ic);
                    pa.Pack(bufA, ic, mc, pc, kc);
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int nr = Math.Min(NR, nc - jr);
                        float* bp;
                        nint ldb;
                        if (direct == null)
                        {
                            bp = bufB + (nint)(jr / NR) * kc * NR;
                            ldb = NR;
                        }
                        else if (jr < fullCols)
                        {
                            bp = direct + pc * ld + jc + jr;
                            ldb = ld;
                        }
                        else
                        {
                            bp = bufB;
                            ldb = NR;
                        }
                        int j = jc + jr;
                        bool contiguous = nr == NR && c.Contiguous(j, NR);
                        nint col = c.Col(j);
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            int m = ic + ir;
                            float* ap = bufA + (nint)(ir / MR) * kc * MR;
                            if (mr == MR && nr == NR && contiguous)
                            {
                                TK.Run(kc, ap, bp, ldb, c.C + m * c.Ldc + col, c.Ldc,
                                    first && c.Bias != null ? c.Bias + m : null, !first);
                            }
                            else if (nr == NR && contiguous)
                            {
                                RowEdgeTile(kc, ap, bp, ldb, c.C + m * c.Ldc + col, c.Ldc, first && c.Bias != null ? c.Bias + m : null, mr, first);
                            }
                            else
                            {
                                EdgeTile(kc, ap, bp, ldb, c, m, j, mr, nr, first);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// The last rows of a block (<paramref name="mr"/> &lt; MR: M is rarely a multiple of MR) over NR contiguous columns:
    /// the same scratch-and-accumulate scheme as <see cref="EdgeTile"/>, with whole-vector row copies instead of a
    /// per-element column map, since these tiles come once per column panel in almost every layer.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void RowEdgeTile(int kc, float* ap, float* bp, nint ldb, float* c, nint ldc, float* bias, int mr, bool first)
    {
        float* t = stackalloc float[MR * NR];
        for (int i = 0; i < MR; i++)
        {
            float* ti = t + i * NR;
            if (first || i >= mr)
            {
                TileRows.Fill<TK>(ti, bias != null && i < mr ? bias[i] : 0f, NR);
            }
            else
            {
                TileRows.Copy<TK>(ti, c + i * ldc, NR);
            }
        }
        TK.Run(kc, ap, bp, ldb, t, NR, null, true);
        for (int i = 0; i < mr; i++)
        {
            TileRows.Copy<TK>(c + i * ldc, t + i * NR, NR);
        }
    }

    /// <summary>
    /// A partial or scattered tile: gather its C (or bias) into an MR×NR scratch, run the same micro-kernel in accumulate
    /// mode (so each element gets the very same FMA chain as in a full tile), and store back the valid part.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void EdgeTile(int kc, float* ap, float* bp, nint ldb, in GemmOutput c, int m, int j, int mr, int nr, bool first)
    {
        float* t = stackalloc float[MR * NR];
        nint* col = stackalloc nint[NR];
        int q = j / c.SegLen, r = j - q * c.SegLen;
        for (int jj = 0; jj < nr; jj++)
        {
            col[jj] = q * c.SegStride + (c.ColOff == null ? r : c.ColOff[r]);
            if (++r == c.SegLen)
            {
                r = 0;
                q++;
            }
        }
        for (int i = 0; i < MR; i++)
        {
            float* row = c.C + (m + i) * c.Ldc;
            float* ti = t + i * NR;
            if (first || i >= mr)
            {
                TileRows.Fill<TK>(ti, first && i < mr && c.Bias != null ? c.Bias[m + i] : 0f, NR);
                continue;
            }
            for (int jj = 0; jj < NR; jj++)
            {
                ti[jj] = jj < nr ? row[col[jj]] : 0f;
            }
        }
        TK.Run(kc, ap, bp, ldb, t, NR, null, true);
        for (int i = 0; i < mr; i++)
        {
            float* row = c.C + (m + i) * c.Ldc;
            for (int jj = 0; jj < nr; jj++)
            {
                row[col[jj]] = t[i * NR + jj];
            }
        }
    }
}
