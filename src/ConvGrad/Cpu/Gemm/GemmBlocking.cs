namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The blocking of the BLIS-style GEMM, in one place (values from BLIS zen2/zen3 sgemm, measured here):
/// an MR×NR register tile, a KC-deep reduction block whose NR-wide B micro-panel (16 KiB) stays in L1,
/// an MC×KC block of A (144 KiB) in L2 and a KC×NC block of B (2 MiB) in L3.
/// </summary>
internal static class GemmBlocking
{
    /// <summary>Rows of the register tile (broadcast operand A).</summary>
    public const int MR = 6;

    /// <summary>Columns of the register tile (two Vector256 of B).</summary>
    public const int NR = 16;

    /// <summary>Depth of one reduction block; block boundaries fix the summation order (a pure function of the shape).</summary>
    public const int KC = 256;

    /// <summary>Rows of A packed per block (multiple of <see cref="MR"/>).</summary>
    public const int MC = 144;

    /// <summary>Columns of B packed per block (multiple of <see cref="NR"/>).</summary>
    public const int NC = 2048;

    /// <summary>Below this many multiply-adds a pass runs on the calling thread only (thread wake-up would cost more).</summary>
    public const long ParallelThreshold = 1L << 19;

    /// <summary>Rounds <paramref name="v"/> up to a multiple of <paramref name="m"/>.</summary>
    public static int RoundUp(int v, int m) => (v + m - 1) / m * m;
}
