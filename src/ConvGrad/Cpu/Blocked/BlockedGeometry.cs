namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// A <see cref="ConvProblem"/> as the blocked kernels see it: channel blocks per group and three spatial axes (D, H, W).
/// A 1×1 convolution with stride 1 and no padding (output = input size) has its spatial axes flattened into one row, so it runs as a GEMM
/// of (all pixels) × (channel blocks) on the layout with no short rows.
/// </summary>
internal sealed class BlockedGeometry
{
    public readonly int B, N, G, C, K, Cg, Kg, CbG, KbG, Cb, Kb;
    public readonly int[] In = new int[3], Out = new int[3], Ker = new int[3], S = new int[3], D = new int[3], P = new int[3];
    public readonly bool Flattened;

    /// <summary>One input and one output channel per group (groups = C = K): the depthwise kernels, channels as lanes.</summary>
    public readonly bool Depthwise;

    public BlockedGeometry(ConvProblem p, int blockSize)
    {
        B = blockSize;
        N = p.N; G = p.Groups; C = p.C; K = p.K; Cg = p.Cg; Kg = p.Kg;
        CbG = (Cg + B - 1) / B;
        KbG = (Kg + B - 1) / B;
        Cb = (C + B - 1) / B;
        Kb = (K + B - 1) / B;
        Depthwise = p.IsChannelwise;
        // Padding after only adds output columns (out > in), which a flattened row would misplace.
        Flattened = p.KerSpatial == 1 && p.UnitStride && p.Pad[0] == 0 && p.Pad[1] == 0 && p.Pad[2] == 0 && p.OutSpatial == p.InSpatial;
        for (int a = 0; a < 3; a++)
        {
            In[a] = p.In[a]; Out[a] = p.Out[a]; Ker[a] = p.Ker[a]; S[a] = p.Stride[a]; D[a] = p.Dil[a]; P[a] = p.Pad[a];
        }
        if (Flattened)
        {
            // out == in for every axis here (1×1, stride 1, no padding); one row of all pixels.
            int pixels = p.InSpatial;
            In[0] = In[1] = Out[0] = Out[1] = 1;
            In[2] = Out[2] = pixels;
        }
    }

    public int InSpatial => In[0] * In[1] * In[2];
    public int OutSpatial => Out[0] * Out[1] * Out[2];
    public int Taps => Ker[0] * Ker[1] * Ker[2];

    /// <summary>
    /// Output-channel blocks one backward-weight task owns (its dW block is the tile's accumulators): 4 at 16 lanes
    /// (AVX-512's 32 registers hold 4 × 6 accumulators), 3 at 8 (AVX2's 16 hold 3 × 4 accumulators, the 3 dY vectors and
    /// the broadcast: 12 independent FMA chains, where 2 × 4 gave 8, too few to cover the FMA latency on two pipes).
    /// </summary>
    public int WeightOutBlocks => B == 16 ? 4 : 3;

    /// <summary>
    /// Whether the blocked kernels compute <paramref name="p"/>: one group, groups whose channel counts are whole
    /// blocks (a block must not straddle two groups), or depthwise without a channel multiplier.
    /// </summary>
    public static bool Applies(ConvProblem p, int blockSize) =>
        p.Groups == 1 || (p.Cg % blockSize == 0 && p.Kg % blockSize == 0) || p.IsChannelwise;

    /// <summary>
    /// Pixels per register tile along a row of <paramref name="length"/> outputs (for dX: the longest stride phase): the
    /// fewest tiles of at most <paramref name="maxPixels"/>, all as wide as possible (so 32 → 11, 11, 10 rather than 14, 14, 4).
    /// </summary>
    public static int TileWidth(int length, int maxPixels)
    {
        int tiles = (length + maxPixels - 1) / maxPixels;
        return Math.Max(1, (length + tiles - 1) / Math.Max(1, tiles));
    }

    /// <summary>
    /// Output-channel blocks per register tile, so that pixels × blocks fills the tier's accumulators (2 ×
    /// <paramref name="maxPixels"/>): 4 when the tile is at most half the widest (oneDNN's 7×4 on AVX-512 and 3×4 on
    /// AVX2: fewer broadcasts per FMA, and short rows still fill the registers), 3 when it is at most two thirds (a 7-wide
    /// row on AVX2 runs as 4×3 + 3×3, 21 accumulators, instead of 4×2 + 3×2, 14, whose 6-chain tail could not cover the
    /// FMA latency; 8-9 pixels × 3 on AVX-512), else 2.
    /// </summary>
    public static int OutBlocksPerTile(int pixels, int maxPixels, int blocks) =>
        blocks < 3 ? 2 : 2 * pixels <= maxPixels ? 4 : 3 * pixels <= 2 * maxPixels ? 3 : 2;

    /// <summary>
    /// Chunks of the forward (or dX) reduction's input blocks: 1 when the weights one register tile's output blocks read
    /// (<paramref name="outBlocks"/> × <paramref name="inBlocks"/> blocks of <paramref name="taps"/> × B × B floats) fit in
    /// <see cref="WeightChunkBytes"/>; else as many even chunks as bring each under it. A layer of few pixels and many
    /// channels (7×7, 512 channels: 1.2 MB per tile's output blocks) then sums one chunk of input blocks over every row of
    /// its range with that chunk's weights in L2, instead of streaming all its weights from L3 once per 7-pixel row.
    /// </summary>
    public static int ReductionChunks(int outBlocks, int inBlocks, int taps, int lanes)
    {
        long bytes = (long)outBlocks * inBlocks * taps * lanes * lanes * sizeof(float);
        return (int)Math.Clamp((bytes + WeightChunkBytes - 1) / WeightChunkBytes, 1, inBlocks);
    }

    /// <summary>Bytes of weights one chunk of the forward or dX reduction may span (a quarter of a 1 MiB L2, beside x and y).</summary>
    public const int WeightChunkBytes = 256 * 1024;

    /// <summary>The tile shape slot of an input pixel stride: 1 and 2 are compiled in as constants, any other is read at run time (0).</summary>
    public static int PixelStrideSlot(int stride) => stride is 1 or 2 ? stride : 0;

    /// <summary>Greatest common divisor.</summary>
    public static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }
        return a;
    }
}
