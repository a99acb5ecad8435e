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

    /// <summary>Floats of the staging block that scattered outputs (strided dX phases) are computed into before one scatter pass (1 MiB).</summary>
    public const int StageFloats = 1 << 18;

    /// <summary>Columns per staging block for <paramref name="rows"/> rows: a multiple of NR, at most NC.</summary>
    public static int StageColumns(int rows) => Math.Clamp(StageFloats / Math.Max(1, rows) / NR * NR, NR, NC);

    /// <summary>Below this many multiply-adds a pass runs on the calling thread only (thread wake-up would cost more).</summary>
    public const long ParallelThreshold = 1L << 19;

    /// <summary>
    /// The reduction blocks of a reduction of length <paramref name="kr"/>: round(kr / KC) blocks (at least 1) of equal
    /// size ±1, so no block is a short tail (each block restarts every tile from C) and none exceeds 1.5·KC.
    /// A pure function of the shape: it fixes every element's summation order.
    /// </summary>
    public static int ReductionBlocks(int kr) => Math.Max(1, (int)(((long)kr + KC / 2) / KC));

    /// <summary>Start of reduction block <paramref name="b"/> of <paramref name="blocks"/>.</summary>
    public static int BlockStart(int kr, int b, int blocks) => (int)((long)kr * b / blocks);

    /// <summary>
    /// A bound on the largest reduction block of every reduction length up to <paramref name="kr"/> (block size is not
    /// monotonic in the length: 383 is one block, 384 two of 192), for sizing buffers.
    /// </summary>
    public static int MaxBlockUpTo(int kr) => Math.Min(kr, KC + KC / 2);

    /// <summary>Rounds <paramref name="v"/> up to a multiple of <paramref name="m"/>.</summary>
    public static int RoundUp(int v, int m) => (v + m - 1) / m * m;
}
