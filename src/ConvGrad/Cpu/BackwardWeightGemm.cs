using ConvGrad.Cpu.Conv;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu;

/// <summary>
/// Backward-weight as one GEMM per group, reducing over batch × output positions:
/// <code>
///   dW_g[K_g × C_g·R] = Σ_n dY_ng[K_g × P] · im2col(X_ng)ᵀ[P × C_g·R]
/// </code>
/// The reduction runs in KC blocks in the fixed order (n, o), each dW element accumulated by a single tile, and threads
/// split the output tiles (never the reduction), so the bits depend on the shape alone, not on the thread count.
/// </summary>
internal static unsafe class BackwardWeightGemm
{
    public static void Run<TK>(ConvProblem p, float* x, float* dy, float* dw, int part, int parts) where TK : struct, IGemmTile
    {
        if (part == 0)
        {
            KernelRecord.Ran(TK.Name); // part 0 runs on the caller's thread
        }
        int cols = p.Cg * p.KerSpatial, kr = checked(p.N * p.OutSpatial);
        var ws = GemmWorkspace.ForThisThread();
        ws.Ensure(GemmDriver<TK>.PackedAFloats(p.Kg, kr), GemmDriver<TK>.PackedBFloats(cols, kr), 3 * p.KerSpatial);
        int* tapOff = ws.Ints;
        ConvTaps.ForwardOffsets(p, tapOff);
        TileSplit.Of<TK>(p.Kg, cols, part, parts, out int m0, out int m1, out int n0, out int n1);
        for (int g = 0; g < p.Groups; g++)
        {
            var pa = new RowPanelsA<TK>(dy + (nint)g * p.Kg * p.OutSpatial, p.OutSpatial, p.OutSpatial, (nint)p.K * p.OutSpatial);
            var pb = new Im2ColTransposedB<TK>(x + (nint)g * p.Cg * p.InSpatial, (nint)p.C * p.InSpatial, p, tapOff);
            var c = GemmOutput.Plain(dw + (nint)g * p.Kg * cols, cols);
            GemmDriver<TK>.Run(ref pa, ref pb, kr, c, m0, m1, n0, n1, ws);
        }
    }

    public static long WorkspaceBytes<TK>(ConvProblem p, int parts) where TK : struct, IGemmTile
    {
        int cols = p.Cg * p.KerSpatial, kr = p.N * p.OutSpatial;
        return parts * (4L * (GemmDriver<TK>.PackedAFloats(p.Kg, kr) + GemmDriver<TK>.PackedBFloats(Math.Max(1, cols / parts), kr)) + 12L * p.KerSpatial);
    }
}
