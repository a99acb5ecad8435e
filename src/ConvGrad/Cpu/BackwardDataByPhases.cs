using ConvGrad.Cpu.Conv;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu;

/// <summary>
/// Backward-data by stride phases ("sub-convolutions"); no zero-inserted dY is ever built or multiplied.
/// Write each input index as <c>i = ρ + t·s</c> (ρ ∈ [0, s) per axis). The taps reaching phase ρ are
/// <c>T(ρ) = {r : (ρ + p − r·d) mod s = 0}</c>, and for those <c>o = t + (ρ + p − r·d)/s</c>, so per (group g, phase ρ), with the batch folded into the columns
/// <code>
///   dX_ngρ[C_g × |ρ-grid|] = Wᵀ_g,T(ρ)[C_g × K_g·|T(ρ)|] · dYwin[K_g·|T(ρ)| × |ρ-grid|]
///   dYwin[k·|T| + t][j] = dY[k, j + off_t]   (0 outside [0, out))
/// </code>
/// a stride-1 correlation of dY with the sub-kernel, stored to <c>dX[ρ + t·s]</c>. Taps that reach no output for any t of
/// the phase are dropped; phases left with no taps (1×1 stride 2, stride &gt; kernel, gcd(s, d) &gt; 1, rows past the last
/// window) are written with exact zeros. Every dX element is written by exactly one tile.
/// </summary>
internal static unsafe class BackwardDataByPhases
{
    public static void Run<TK>(ConvProblem p, float* dy, float* w, float* dx, int part, int parts) where TK : struct, IGemmTile
    {
        if (part == 0)
        {
            KernelRecord.Ran(TK.Name); // part 0 runs on the caller's thread
        }
        var ws = GemmWorkspace.ForThisThread();
        int ks = p.KerSpatial;
        int maxPhase = MaxPhasePixels(p);
        int axisScratch = 2 * (p.Ker[0] + p.Ker[1] + p.Ker[2]);
        ws.Ensure(GemmDriver<TK>.PackedAFloats(p.Cg, p.Kg * ks), GemmDriver<TK>.PackedBFloats(p.N * maxPhase, p.Kg * ks), 4 * ks + axisScratch + maxPhase);
        int* tapOff = ws.Ints, tapW = tapOff + 3 * ks, axis = tapW + ks, colTable = axis + axisScratch;
        var r0 = new Span<int>(axis, p.Ker[0]); var o0 = new Span<int>(axis + p.Ker[0], p.Ker[0]);
        int* a1 = axis + 2 * p.Ker[0];
        var r1 = new Span<int>(a1, p.Ker[1]); var o1 = new Span<int>(a1 + p.Ker[1], p.Ker[1]);
        int* a2 = a1 + 2 * p.Ker[1];
        var r2 = new Span<int>(a2, p.Ker[2]); var o2 = new Span<int>(a2 + p.Ker[2], p.Ker[2]);
        Span<int> grid = stackalloc int[3];
        ReadOnlySpan<int> unit = [1, 1, 1];
        bool unitStride = p.UnitStride;

        for (int rho0 = 0; rho0 < p.Stride[0]; rho0++)
        for (int rho1 = 0; rho1 < p.Stride[1]; rho1++)
        for (int rho2 = 0; rho2 < p.Stride[2]; rho2++)
        {
            grid[0] = PhaseCount(p.In[0], rho0, p.Stride[0]);
            grid[1] = PhaseCount(p.In[1], rho1, p.Stride[1]);
            grid[2] = PhaseCount(p.In[2], rho2, p.Stride[2]);
            int pixels = grid[0] * grid[1] * grid[2];
            if (pixels == 0)
            {
                continue;
            }
            int n0t = ConvTaps.PhaseAxis(p, 0, rho0, grid[0], r0, o0);
            int n1t = ConvTaps.PhaseAxis(p, 1, rho1, grid[1], r1, o1);
            int n2t = ConvTaps.PhaseAxis(p, 2, rho2, grid[2], r2, o2);
            int taps = 0;
            for (int a = 0; a < n0t; a++)
            for (int b = 0; b < n1t; b++)
            for (int c = 0; c < n2t; c++)
            {
                tapOff[3 * taps] = o0[a];
                tapOff[3 * taps + 1] = o1[b];
                tapOff[3 * taps + 2] = o2[c];
                tapW[taps] = (r0[a] * p.Ker[1] + r1[b]) * p.Ker[2] + r2[c];
                taps++;
            }

            // Columns run over images × phase pixels (the batch folded in); colOff maps a phase pixel to its dX plane offset.
            int cols = p.N * pixels;
            TileSplit.Of<TK>(p.Cg, cols, part, parts, out int m0, out int m1, out int j0, out int j1);
            if (m1 <= m0 || j1 <= j0)
            {
                continue;
            }
            int* colOff = null;
            if (!unitStride)
            {
                colOff = colTable;
                for (int j = 0; j < pixels; j++)
                {
                    int t2 = j % grid[2], rest = j / grid[2], t1 = rest % grid[1], t0 = rest / grid[1];
                    colOff[j] = ((rho0 + t0 * p.Stride[0]) * p.In[1] + rho1 + t1 * p.Stride[1]) * p.In[2] + rho2 + t2 * p.Stride[2];
                }
            }

            for (int g = 0; g < p.Groups; g++)
            {
                var c = new GemmOutput
                {
                    C = dx + (nint)g * p.Cg * p.InSpatial,
                    Ldc = p.InSpatial,
                    ColOff = colOff,
                    SegLen = pixels,
                    SegStride = (nint)p.C * p.InSpatial,
                };
                if (taps == 0)
                {
                    WriteZeros(c, m0, m1, j0, j1);
                    continue;
                }
                var pa = new PhaseWeightsA<TK>(w + (nint)g * p.Kg * p.Cg * ks, p.Cg, ks, taps, tapW);
                var pb = new Im2ColPanelsB<TK>(dy + (nint)g * p.Kg * p.OutSpatial, p.OutSpatial, (nint)p.K * p.OutSpatial, p.N, taps, tapOff, p.Out, unit, grid);
                GemmDriver<TK>.Run(ref pa, ref pb, p.Kg * taps, c, m0, m1, j0, j1, ws);
            }
        }
    }

    /// <summary>A phase no tap reaches: exact zeros at its positions (walking image and pixel without a division per element).</summary>
    private static void WriteZeros(in GemmOutput c, int m0, int m1, int j0, int j1)
    {
        for (int m = m0; m < m1; m++)
        {
            float* row = c.C + (nint)m * c.Ldc;
            int q = j0 / c.SegLen, r = j0 - q * c.SegLen;
            float* image = row + q * c.SegStride;
            for (int j = j0; j < j1; j++)
            {
                image[c.ColOff == null ? r : c.ColOff[r]] = 0f;
                if (++r == c.SegLen)
                {
                    r = 0;
                    image += c.SegStride;
                }
            }
        }
    }

    /// <summary>Positions i ∈ [0, in) with i ≡ ρ (mod s).</summary>
    private static int PhaseCount(int size, int rho, int s) => rho < size ? (size - rho + s - 1) / s : 0;

    private static int MaxPhasePixels(ConvProblem p) =>
        PhaseCount(p.In[0], 0, p.Stride[0]) * PhaseCount(p.In[1], 0, p.Stride[1]) * PhaseCount(p.In[2], 0, p.Stride[2]);

    public static long WorkspaceBytes<TK>(ConvProblem p, int parts) where TK : struct, IGemmTile
    {
        int kr = p.Kg * p.KerSpatial, maxPhase = MaxPhasePixels(p);
        return parts * (4L * (GemmDriver<TK>.PackedAFloats(p.Cg, kr) + GemmDriver<TK>.PackedBFloats(Math.Max(1, p.N * maxPhase / parts), kr))
            + 4L * (4 * p.KerSpatial + 2 * (p.Ker[0] + p.Ker[1] + p.Ker[2]) + maxPhase)
            + (p.UnitStride ? 0 : 4L * p.Cg * GemmBlocking.StageColumns(p.Cg, TK.NR, TK.NC)));
    }

    /// <summary>The non-empty-grid phases of the problem, how many have no tap, and the fewest / most taps of one phase (for <c>Describe</c>).</summary>
    public static (int Phases, int Empty, int MinTaps, int MaxTaps) PhaseSummary(ConvProblem p)
    {
        int phases = 0, empty = 0, min = int.MaxValue, max = 0;
        int maxKer = Math.Max(p.Ker[0], Math.Max(p.Ker[1], p.Ker[2]));
        var r = new int[maxKer];
        var o = new int[maxKer];
        Span<int> rho = stackalloc int[3];
        for (rho[0] = 0; rho[0] < p.Stride[0]; rho[0]++)
        for (rho[1] = 0; rho[1] < p.Stride[1]; rho[1]++)
        for (rho[2] = 0; rho[2] < p.Stride[2]; rho[2]++)
        {
            int taps = 1;
            bool pixels = true;
            for (int a = 0; a < 3; a++)
            {
                int count = PhaseCount(p.In[a], rho[a], p.Stride[a]);
                pixels &= count > 0;
                taps *= count > 0 ? ConvTaps.PhaseAxis(p, a, rho[a], count, r, o) : 0;
            }
            if (!pixels)
            {
                continue;
            }
            phases++;
            empty += taps == 0 ? 1 : 0;
            min = Math.Min(min, taps);
            max = Math.Max(max, taps);
        }
        return (phases, empty, min == int.MaxValue ? 0 : min, max);
    }
}
