using ConvGrad.Cpu.Conv;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu;

/// <summary>
/// Forward by implicit-im2col GEMM, one GEMM per group g with the batch folded into the columns:
/// <code>
///   Y_ng[K_g × P] = b_g + W_g[K_g × C_g·R] · im2col(X_ng)[C_g·R × P]
///   im2col(X)[c·R + r][o] = X[c, o·s + r·d − p]   (0 in the padding)
/// </code>
/// with P the output positions and R the kernel taps (3 axes each). The im2col matrix exists only as KC×NC packed
/// panels; for 1×1, stride 1, pad 0 it is X itself and is read in place. The bias starts each sum.
/// </summary>
internal static unsafe class ForwardGemm
{
    public static void Run<TK>(ConvProblem p, float* x, float* w, float* b, float* y, int part, int parts) where TK : struct, IGemmTile
    {
        if (part == 0)
        {
            KernelRecord.Ran(TK.Name); // part 0 runs on the caller's thread
        }
        int kr = p.Cg * p.KerSpatial;
        var ws = GemmWorkspace.ForThisThread();
        ws.Ensure(GemmDriver<TK>.PackedAFloats(p.Kg, kr), GemmDriver<TK>.PackedBFloats(p.N * p.OutSpatial, kr), 3 * p.KerSpatial);
        int* tapOff = ws.Ints;
        ConvTaps.ForwardOffsets(p, tapOff);
        // The batch is folded into the columns (one GEMM per group over N·P columns: fewer edge tiles, A packed once per
        // block), except for the in-place 1×1 case, whose B is each image's X as it lies.
        bool inPlace = ReadsInPlace(p);
        int images = inPlace ? 1 : p.N;
        int cols = images * p.OutSpatial;
        TileSplit.Of<TK>(p.Kg, cols, part, parts, out int m0, out int m1, out int n0, out int n1);
        for (int n = 0; n < p.N; n += images)
        {
            for (int g = 0; g < p.Groups; g++)
            {
                var pa = new RowPanelsA<TK>(w + (nint)g * p.Kg * kr, kr, kr, 0);
                var pb = new Im2ColPanelsB<TK>(x + ((nint)n * p.C + g * p.Cg) * p.InSpatial, p.InSpatial, (nint)p.C * p.InSpatial,
                    images, p.KerSpatial, tapOff, p.In, p.Stride, p.Out);
                var c = new GemmOutput
                {
                    C = y + ((nint)n * p.K + g * p.Kg) * p.OutSpatial,
                    Ldc = p.OutSpatial,
                    Bias = b == null ? null : b + g * p.Kg,
                    SegLen = p.OutSpatial,
                    SegStride = (nint)p.K * p.OutSpatial,
                };
                GemmDriver<TK>.Run(ref pa, ref pb, kr, c, m0, m1, n0, n1, ws);
            }
        }
    }

    /// <summary>Images below this many output positions are packed even for 1×1 (see <see cref="ReadsInPlace"/>).</summary>
    public const int InPlaceMinPositions = 512;

    /// <summary>
    /// Whether B is X itself, read in place, one GEMM per image: 1×1, stride 1, no padding, and images of at least
    /// <see cref="InPlaceMinPositions"/> positions. Smaller images (rn50-1x1-14: 196) are packed with the batch folded
    /// into the columns instead: the copy is cheap next to K_g rows of FMAs per element, and it saves the per-image
    /// repacking of A and a ragged edge panel per image (measured 10 -> 6.3 ms on rn50-1x1-14).
    /// </summary>
    public static bool ReadsInPlace(ConvProblem p) =>
        p.KerSpatial == 1 && p.UnitStride && p.Pad[0] == 0 && p.Pad[1] == 0 && p.Pad[2] == 0 && p.OutSpatial >= InPlaceMinPositions;

    public static long WorkspaceBytes<TK>(ConvProblem p, int parts) where TK : struct, IGemmTile
    {
        int kr = p.Cg * p.KerSpatial;
        return parts * (4L * (GemmDriver<TK>.PackedAFloats(p.Kg, kr) + GemmDriver<TK>.PackedBFloats(Math.Max(1, p.N * p.OutSpatial / parts), kr)) + 12L * p.KerSpatial);
    }
}
