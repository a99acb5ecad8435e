namespace ConvGrad.Cpu.Kernels;

/// <summary>
/// The operands of one forward register tile (<see cref="DirectTile"/>, <see cref="FlatTile"/>; backward-data runs the
/// same tiles); offsets are in floats. The flat tile reads one input block (<see cref="InBlocks"/>, <see cref="XIn"/> and
/// <see cref="WIn"/> unused).
/// </summary>
internal unsafe struct TileArgs
{
    /// <summary>Input of the first input-channel block, at pixel 0 of the tile and tap 0.</summary>
    public float* X;
    /// <summary>Between input-channel blocks.</summary>
    public nint XIn;
    /// <summary>Input-channel blocks summed over.</summary>
    public int InBlocks;
    /// <summary>Per kernel row (the valid depth/height taps; for the flat tile also per input channel): the input row offset.</summary>
    public nint* RowX;
    /// <summary>Per kernel row: the weight offset.</summary>
    public nint* RowW;
    /// <summary>Number of kernel rows.</summary>
    public int Rows;
    /// <summary>Width taps per row.</summary>
    public int Taps;
    /// <summary>Input step between width taps (may be negative).</summary>
    public nint XTap;
    /// <summary>Weight step between width taps (the flat tile's is one vector).</summary>
    public nint WTap;
    /// <summary>Weights of the first input block and first output block.</summary>
    public float* W;
    /// <summary>Weight step between input-channel blocks.</summary>
    public nint WIn;
    /// <summary>Weight step between output-channel blocks.</summary>
    public nint WOut;
    /// <summary>Input step between the tile's pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Output of the tile's first pixel and first output block.</summary>
    public float* Y;
    /// <summary>Output step between pixels.</summary>
    public nint YPix;
    /// <summary>Output step between output-channel blocks.</summary>
    public nint YOut;
    /// <summary>Initial value of the first output block's accumulators (the next blocks' follow it), or null for zeros.</summary>
    public float* Init;
    /// <summary>Whether the direct tile's accumulators start from <see cref="Y"/> (a sum continued over the next chunk of input blocks) instead of <see cref="Init"/>.</summary>
    public bool Accumulate;
}

/// <summary>The operands of one backward-weight register tile (<see cref="WeightTile"/>); offsets are in floats.</summary>
internal unsafe struct WeightTileArgs
{
    /// <summary>The accumulators of the first output block: <c>[row][tap][lane]</c>, loaded, summed into and stored back.</summary>
    public float* Acc;
    /// <summary>Accumulator step between output blocks.</summary>
    public nint AccOut;
    /// <summary>Accumulator step between source rows (0: taps × lanes, each row's accumulators right after the previous row's).</summary>
    public nint AccRow;
    /// <summary>dY of the first output block at the row's first pixel.</summary>
    public float* Dy;
    /// <summary>dY step between output blocks.</summary>
    public nint DyOut;
    /// <summary>Input of source row 0 at the first pixel and tap 0.</summary>
    public float* X0;
    /// <summary>Input of source row 1 (when the tile has two or three rows).</summary>
    public float* X1;
    /// <summary>Input of source row 2 (when the tile has three rows).</summary>
    public float* X2;
    /// <summary>Input step between taps, when the shape does not fix it.</summary>
    public nint XTap;
    /// <summary>Input step between pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Pixels summed over per line.</summary>
    public int Count;
    /// <summary>Lines summed over (0 or 1: one), each of <see cref="Count"/> pixels, the accumulators kept in registers across them.</summary>
    public int Lines;
    /// <summary>dY step between lines.</summary>
    public nint DyLine;
    /// <summary>Input step between lines (the same for every source row).</summary>
    public nint XLine;
}

/// <summary>
/// The operands of one depthwise row tile (<see cref="DepthwiseRowsTile"/>): up to two output rows of one channel block,
/// and the source rows they read, merged into one ordered list; offsets are in floats.
/// </summary>
internal unsafe struct DepthwiseRowsArgs
{
    /// <summary>Input at the tile's first pixel and tap 0 of source row offset 0.</summary>
    public float* X;
    /// <summary>Per source row <c>j</c>: its offset from <see cref="X"/>.</summary>
    public nint* RowX;
    /// <summary>Per source row <c>j</c> and output row <c>t</c> (at <c>2·j + t</c>): the offset from <see cref="W"/> of the weight row that pairs them, or −1 when output row t does not read row j.</summary>
    public nint* RowW;
    /// <summary>Number of source rows.</summary>
    public int Rows;
    /// <summary>Width taps per row.</summary>
    public int Taps;
    /// <summary>Input step between width taps (may be negative).</summary>
    public nint XTap;
    /// <summary>Weight step between width taps.</summary>
    public nint WTap;
    /// <summary>The channel block's weights.</summary>
    public float* W;
    /// <summary>Input step between the tile's pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Output of the tile's first pixel in its first row.</summary>
    public float* Y;
    /// <summary>Output step between pixels.</summary>
    public nint YPix;
    /// <summary>Output step between the two output rows.</summary>
    public nint YRow;
    /// <summary>Initial value of every accumulator (the bias), or null for zeros.</summary>
    public float* Init;
}

/// <summary>
/// The operands of one depthwise backward-weight tile (<see cref="DepthwiseWeightTile"/>): one source row of a channel
/// block against the dY rows of one or two output rows; offsets are in floats.
/// </summary>
internal unsafe struct DepthwiseWeightArgs
{
    /// <summary>Input of the source row at the first pixel's tap 0.</summary>
    public float* X;
    /// <summary>Input step between width taps, when the shape does not fix it.</summary>
    public nint XTap;
    /// <summary>Input step between pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>dY of the first output row at the first pixel.</summary>
    public float* Dy0;
    /// <summary>dY of the second output row at the first pixel (two-row tiles).</summary>
    public float* Dy1;
    /// <summary>The first output row's accumulators <c>[tap][lane]</c> (its kernel row's dW), loaded, summed into and stored back.</summary>
    public float* Acc0;
    /// <summary>The second output row's accumulators (two-row tiles).</summary>
    public float* Acc1;
    /// <summary>Pixels summed over.</summary>
    public int Count;
}

/// <summary>
/// The operands of the depthwise backward-weight planes tile (<see cref="DepthwiseWeightPlanesTile"/>): one channel block
/// of x and dY over every image of a 2-D problem; offsets are in floats.
/// </summary>
internal unsafe struct DepthwiseWeightPlanesArgs
{
    /// <summary>Input of image 0 at row 0, column 0.</summary>
    public float* X;
    /// <summary>dY of image 0 at row 0, column 0.</summary>
    public float* Dy;
    /// <summary>Input step between images.</summary>
    public nint XImage;
    /// <summary>dY step between images.</summary>
    public nint DyImage;
    /// <summary>Images summed over.</summary>
    public int Images;
    /// <summary>Input step between rows.</summary>
    public nint XRow;
    /// <summary>dY step between rows.</summary>
    public nint DyRow;
    /// <summary>Output (dY) rows and columns.</summary>
    public int OutRows, OutCols;
    /// <summary>Input rows and columns.</summary>
    public int InRows, InCols;
    /// <summary>Height stride, dilation and padding before.</summary>
    public int StrideH, DilH, PadH;
    /// <summary>Width stride, dilation and padding before.</summary>
    public int StrideW, DilW, PadW;
    /// <summary>Input step between pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Input step between width taps, when the shape does not fix it.</summary>
    public nint XTap;
    /// <summary>The output columns <c>[Lo, Hi)</c> whose width taps all lie inside the row.</summary>
    public int Lo, Hi;
    /// <summary>The block's dW <c>[tap][lane]</c>, written (not added to).</summary>
    public float* Dw;
}

/// <summary>
/// The operands of the depthwise planes tile (<see cref="DepthwisePlanesTile"/>): one channel block's plane of one image;
/// offsets are in floats. For a flipped kernel (backward-data) the weight steps are negative.
/// </summary>
internal unsafe struct DepthwisePlanesArgs
{
    /// <summary>Input (source) plane at row 0, column 0.</summary>
    public float* X;
    /// <summary>Weight vector of kernel row 0, width tap 0.</summary>
    public float* W;
    /// <summary>Weight step between kernel rows.</summary>
    public nint WRow;
    /// <summary>Weight step between width taps.</summary>
    public nint WTap;
    /// <summary>Initial value of every output (the bias), or null for zeros.</summary>
    public float* Init;
    /// <summary>Output plane at row 0, column 0.</summary>
    public float* Y;
    /// <summary>Input step between rows.</summary>
    public nint XRow;
    /// <summary>Output step between rows.</summary>
    public nint YRow;
    /// <summary>Output rows and columns.</summary>
    public int OutRows, OutCols;
    /// <summary>Input rows and columns.</summary>
    public int InRows, InCols;
    /// <summary>Height stride, dilation and padding before.</summary>
    public int StrideH, DilH, PadH;
    /// <summary>Width stride, dilation and padding before.</summary>
    public int StrideW, DilW, PadW;
    /// <summary>Input step between pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Input step between width taps, when the shape does not fix it.</summary>
    public nint XTap;
    /// <summary>The output columns <c>[Lo, Hi)</c> whose width taps all lie inside the row.</summary>
    public int Lo, Hi;
}
