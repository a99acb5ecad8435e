using ConvGrad.Cpu.Gemm;
using static ConvGrad.Cpu.Gemm.GemmBlocking;

namespace ConvGrad.Cpu;

/// <summary>
/// The static split of one GEMM's M×N tiles (of the tier's tile <c>TK</c>) among parts: along columns when there are enough NR-wide column tiles,
/// else along MR-high rows. Boundaries are whole tiles, so every element belongs to the same tile (and gets the same
/// summation) whatever the number of parts.
/// </summary>
internal static class TileSplit
{
    public static void Of<TK>(int m, int n, int part, int parts, out int m0, out int m1, out int n0, out int n1) where TK : struct, IGemmTile
    {
        int MR = TK.MR, NR = TK.NR;
        m0 = 0; m1 = m; n0 = 0; n1 = n;
        if (parts <= 1)
        {
            return;
        }
        int nt = (n + NR - 1) / NR, mt = (m + MR - 1) / MR;
        if (nt >= 2 * parts || nt >= mt)
        {
            n0 = Math.Min(n, (int)((long)nt * part / parts) * NR);
            n1 = Math.Min(n, (int)((long)nt * (part + 1) / parts) * NR);
        }
        else
        {
            m0 = Math.Min(m, (int)((long)mt * part / parts) * MR);
            m1 = Math.Min(m, (int)((long)mt * (part + 1) / parts) * MR);
        }
    }

    /// <summary>Parts to use: 1 below the parallel threshold, else the thread count.</summary>
    public static int Parts(ConvProblem p, int threads) =>
        threads <= 1 || p.MultiplyAdds < ParallelThreshold ? 1 : threads;
}
