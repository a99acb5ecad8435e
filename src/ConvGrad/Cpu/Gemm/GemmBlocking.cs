namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// The shape functions of the blocked GEMM shared by every tile (<see cref="IGemmTile"/> holds each tier's MR, NR,
/// KC, MC, NC): how a reduction is cut into blocks, which fixes every element's summation order.
/// </summary>
internal static class GemmBlocking
{
    /// <summary>Floats of the staging block that scattered outputs (strided dX phases) are computed into before one scatter pass (1 MiB).</summary>
    public const int StageFloats = 1 << 18;

    /// <summary>Columns per staging block for <paramref name="rows"/> rows: a multiple of <paramref name="nr"/>, at most <paramref name="nc"/>.</summary>
    public static int StageColumns(int rows, int nr, int nc) => Math.Clamp(StageFloats / Math.Max(1, rows) / nr * nr, nr, nc);

    /// <summary>Below this many multiply-adds a pass runs on the calling thread only (thread wake-up would cost more).</summary>
    public const long ParallelThreshold = 1L << 19;

    /// <summary>
    /// The reduction blocks of a reduction of length <paramref name="kr"/> for block depth <paramref name="kc"/>:
    /// round(kr / kc) blocks (at least 1) of equal size ±1, so no block is a short tail (each block restarts every tile
    /// from C) and none exceeds 1.5·kc. A pure function of the shape and the tier: it fixes every element's summation order.
    /// </summary>
    public static int ReductionBlocks(int kr, int kc) => Math.Max(1, (int)(((long)kr + kc / 2) / kc));

    /// <summary>Start of reduction block <paramref name="b"/> of <paramref name="blocks"/>.</summary>
    public static int BlockStart(int kr, int b, int blocks) => (int)((long)kr * b / blocks);

    /// <summary>
    /// A bound on the largest reduction block of every reduction length up to <paramref name="kr"/> for block depth
    /// <paramref name="kc"/> (block size is not monotonic in the length: 383 is one block of 256-deep blocking, 384 two of 192), for sizing buffers.
    /// </summary>
    public static int MaxBlockUpTo(int kr, int kc) => Math.Min(kr, kc + kc / 2);

    /// <summary>Rounds <paramref name="v"/> up to a multiple of <paramref name="m"/>.</summary>
    public static int RoundUp(int v, int m) => (v + m - 1) / m * m;
}
