// The unrolled register tiles of the blocked direct kernels: one line per accumulator, so that the JIT keeps every
// accumulator in a register. Shapes are compile-time constants (struct type parameters); lines past the shape fold away.
using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>The operands of one register tile of the direct kernel (see <see cref="DirectTile"/>); offsets are in floats.</summary>
internal unsafe struct TileArgs
{
    /// <summary>Input of the first input-channel block, at pixel 0 of the tile and tap 0.</summary>
    public float* X;
    /// <summary>Between input-channel blocks.</summary>
    public nint XIn;
    /// <summary>Input-channel blocks summed over.</summary>
    public int InBlocks;
    /// <summary>Per kernel row (the valid depth/height taps): the input row offset.</summary>
    public nint* RowX;
    /// <summary>Per kernel row: the weight offset.</summary>
    public nint* RowW;
    /// <summary>Number of kernel rows.</summary>
    public int Rows;
    /// <summary>Width taps per row.</summary>
    public int Taps;
    /// <summary>Input step between width taps (may be negative).</summary>
    public nint XTap;
    /// <summary>Weight step between width taps.</summary>
    public nint WTap;
    /// <summary>Weights of the first input block and first output block: [lane in][lane out] per tap.</summary>
    public float* W;
    /// <summary>Weight step between input-channel blocks.</summary>
    public nint WIn;
    /// <summary>Weight step to the second output-channel block.</summary>
    public nint WOut;
    /// <summary>Input step between the tile's pixels, when the shape does not fix it.</summary>
    public nint PixelStride;
    /// <summary>Output of the tile's first pixel and first output block.</summary>
    public float* Y;
    /// <summary>Output step between pixels.</summary>
    public nint YPix;
    /// <summary>Output step to the second output-channel block.</summary>
    public nint YOut;
    /// <summary>Pixels to store (the tile may compute more).</summary>
    public int Valid;
    /// <summary>Initial value of the first output block's accumulators (the second's follows it), or null for zeros.</summary>
    public float* Init;
}

/// <summary>
/// The register tile of the direct convolution on the channel-blocked layout: <c>U</c> output pixels × <c>N</c> (1, 2 or 4)
/// output-channel blocks of accumulators. For each input block, kernel row, width tap and input lane it loads one weight
/// vector per output block, broadcasts one input value per pixel and does one FMA per accumulator (oneDNN's
/// <c>ur_w × nb_oc_blocking</c> forward kernel; backward-data runs it with the transposed weights on a stride phase).
/// </summary>
internal static unsafe class DirectTile
{
    /// <summary>Runs one tile. <typeparamref name="TU"/> pixels, input pixel stride <typeparamref name="TP"/> blocks (0: <see cref="TileArgs.PixelStride"/>), <typeparamref name="TN"/> output blocks.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Run<TI, TV, TU, TP, TN>(ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct where TU : struct, IConstant where TP : struct, IConstant where TN : struct, IConstant
    {
        int lanes = TI.Lanes;
        nint ps = TP.Value == 0 ? a.PixelStride : (nint)TP.Value * lanes;
        TV i0 = a.Init == null ? TI.Zero : TI.Load(a.Init);
        TV i1 = TN.Value > 1 && a.Init != null ? TI.Load(a.Init + lanes) : TI.Zero;
        TV i2 = TN.Value > 2 && a.Init != null ? TI.Load(a.Init + 2 * lanes) : TI.Zero;
        TV i3 = TN.Value > 3 && a.Init != null ? TI.Load(a.Init + 3 * lanes) : TI.Zero;
        TV a0_0 = i0, a0_1 = i1, a0_2 = i2, a0_3 = i3;
        TV a1_0 = i0, a1_1 = i1, a1_2 = i2, a1_3 = i3;
        TV a2_0 = i0, a2_1 = i1, a2_2 = i2, a2_3 = i3;
        TV a3_0 = i0, a3_1 = i1, a3_2 = i2, a3_3 = i3;
        TV a4_0 = i0, a4_1 = i1, a4_2 = i2, a4_3 = i3;
        TV a5_0 = i0, a5_1 = i1, a5_2 = i2, a5_3 = i3;
        TV a6_0 = i0, a6_1 = i1, a6_2 = i2, a6_3 = i3;
        TV a7_0 = i0, a7_1 = i1, a7_2 = i2, a7_3 = i3;
        TV a8_0 = i0, a8_1 = i1, a8_2 = i2, a8_3 = i3;
        TV a9_0 = i0, a9_1 = i1, a9_2 = i2, a9_3 = i3;
        TV a10_0 = i0, a10_1 = i1, a10_2 = i2, a10_3 = i3;
        TV a11_0 = i0, a11_1 = i1, a11_2 = i2, a11_3 = i3;
        TV a12_0 = i0, a12_1 = i1, a12_2 = i2, a12_3 = i3;
        TV a13_0 = i0, a13_1 = i1, a13_2 = i2, a13_3 = i3;
        float* xb = a.X, wb = a.W;
        nint xIn = a.XIn, wIn = a.WIn, xTap = a.XTap, wTap = a.WTap, wOut = a.WOut;
        nint* rowX = a.RowX;
        nint* rowW = a.RowW;
        int rows = a.Rows, taps = a.Taps, inBlocks = a.InBlocks;
        for (int b = 0; b < inBlocks; b++, xb += xIn, wb += wIn)
        {
            for (int r = 0; r < rows; r++)
            {
                float* xr = xb + rowX[r];
                float* wr = wb + rowW[r];
                for (int m = 0; m < taps; m++, xr += xTap, wr += wTap)
                {
                    float* xl = xr;
                    float* wEnd = wr + lanes * lanes;
                    for (float* wl = wr; wl < wEnd; wl += lanes, xl++)
                    {
                        TV w0 = TI.Load(wl);
                        TV w1 = TN.Value > 1 ? TI.Load(wl + wOut) : default;
                        TV w2 = TN.Value > 2 ? TI.Load(wl + 2 * wOut) : default;
                        TV w3 = TN.Value > 3 ? TI.Load(wl + 3 * wOut) : default;
                        if (TU.Value > 0) { TV x = TI.Broadcast(xl); a0_0 = TI.Fma(x, w0, a0_0); if (TN.Value > 1) { a0_1 = TI.Fma(x, w1, a0_1); } if (TN.Value > 2) { a0_2 = TI.Fma(x, w2, a0_2); } if (TN.Value > 3) { a0_3 = TI.Fma(x, w3, a0_3); } }
                        if (TU.Value > 1) { TV x = TI.Broadcast(xl + ps); a1_0 = TI.Fma(x, w0, a1_0); if (TN.Value > 1) { a1_1 = TI.Fma(x, w1, a1_1); } if (TN.Value > 2) { a1_2 = TI.Fma(x, w2, a1_2); } if (TN.Value > 3) { a1_3 = TI.Fma(x, w3, a1_3); } }
                        if (TU.Value > 2) { TV x = TI.Broadcast(xl + 2 * ps); a2_0 = TI.Fma(x, w0, a2_0); if (TN.Value > 1) { a2_1 = TI.Fma(x, w1, a2_1); } if (TN.Value > 2) { a2_2 = TI.Fma(x, w2, a2_2); } if (TN.Value > 3) { a2_3 = TI.Fma(x, w3, a2_3); } }
                        if (TU.Value > 3) { TV x = TI.Broadcast(xl + 3 * ps); a3_0 = TI.Fma(x, w0, a3_0); if (TN.Value > 1) { a3_1 = TI.Fma(x, w1, a3_1); } if (TN.Value > 2) { a3_2 = TI.Fma(x, w2, a3_2); } if (TN.Value > 3) { a3_3 = TI.Fma(x, w3, a3_3); } }
                        if (TU.Value > 4) { TV x = TI.Broadcast(xl + 4 * ps); a4_0 = TI.Fma(x, w0, a4_0); if (TN.Value > 1) { a4_1 = TI.Fma(x, w1, a4_1); } if (TN.Value > 2) { a4_2 = TI.Fma(x, w2, a4_2); } if (TN.Value > 3) { a4_3 = TI.Fma(x, w3, a4_3); } }
                        if (TU.Value > 5) { TV x = TI.Broadcast(xl + 5 * ps); a5_0 = TI.Fma(x, w0, a5_0); if (TN.Value > 1) { a5_1 = TI.Fma(x, w1, a5_1); } if (TN.Value > 2) { a5_2 = TI.Fma(x, w2, a5_2); } if (TN.Value > 3) { a5_3 = TI.Fma(x, w3, a5_3); } }
                        if (TU.Value > 6) { TV x = TI.Broadcast(xl + 6 * ps); a6_0 = TI.Fma(x, w0, a6_0); if (TN.Value > 1) { a6_1 = TI.Fma(x, w1, a6_1); } if (TN.Value > 2) { a6_2 = TI.Fma(x, w2, a6_2); } if (TN.Value > 3) { a6_3 = TI.Fma(x, w3, a6_3); } }
                        if (TU.Value > 7) { TV x = TI.Broadcast(xl + 7 * ps); a7_0 = TI.Fma(x, w0, a7_0); if (TN.Value > 1) { a7_1 = TI.Fma(x, w1, a7_1); } if (TN.Value > 2) { a7_2 = TI.Fma(x, w2, a7_2); } if (TN.Value > 3) { a7_3 = TI.Fma(x, w3, a7_3); } }
                        if (TU.Value > 8) { TV x = TI.Broadcast(xl + 8 * ps); a8_0 = TI.Fma(x, w0, a8_0); if (TN.Value > 1) { a8_1 = TI.Fma(x, w1, a8_1); } if (TN.Value > 2) { a8_2 = TI.Fma(x, w2, a8_2); } if (TN.Value > 3) { a8_3 = TI.Fma(x, w3, a8_3); } }
                        if (TU.Value > 9) { TV x = TI.Broadcast(xl + 9 * ps); a9_0 = TI.Fma(x, w0, a9_0); if (TN.Value > 1) { a9_1 = TI.Fma(x, w1, a9_1); } if (TN.Value > 2) { a9_2 = TI.Fma(x, w2, a9_2); } if (TN.Value > 3) { a9_3 = TI.Fma(x, w3, a9_3); } }
                        if (TU.Value > 10) { TV x = TI.Broadcast(xl + 10 * ps); a10_0 = TI.Fma(x, w0, a10_0); if (TN.Value > 1) { a10_1 = TI.Fma(x, w1, a10_1); } if (TN.Value > 2) { a10_2 = TI.Fma(x, w2, a10_2); } if (TN.Value > 3) { a10_3 = TI.Fma(x, w3, a10_3); } }
                        if (TU.Value > 11) { TV x = TI.Broadcast(xl + 11 * ps); a11_0 = TI.Fma(x, w0, a11_0); if (TN.Value > 1) { a11_1 = TI.Fma(x, w1, a11_1); } if (TN.Value > 2) { a11_2 = TI.Fma(x, w2, a11_2); } if (TN.Value > 3) { a11_3 = TI.Fma(x, w3, a11_3); } }
                        if (TU.Value > 12) { TV x = TI.Broadcast(xl + 12 * ps); a12_0 = TI.Fma(x, w0, a12_0); if (TN.Value > 1) { a12_1 = TI.Fma(x, w1, a12_1); } if (TN.Value > 2) { a12_2 = TI.Fma(x, w2, a12_2); } if (TN.Value > 3) { a12_3 = TI.Fma(x, w3, a12_3); } }
                        if (TU.Value > 13) { TV x = TI.Broadcast(xl + 13 * ps); a13_0 = TI.Fma(x, w0, a13_0); if (TN.Value > 1) { a13_1 = TI.Fma(x, w1, a13_1); } if (TN.Value > 2) { a13_2 = TI.Fma(x, w2, a13_2); } if (TN.Value > 3) { a13_3 = TI.Fma(x, w3, a13_3); } }
                    }
                }
            }
        }
        float* y = a.Y;
        nint yp = a.YPix, yo = a.YOut;
        int valid = a.Valid;
        if (TU.Value > 0 && valid > 0) { TI.Store(y, a0_0); if (TN.Value > 1) { TI.Store(y + yo, a0_1); } if (TN.Value > 2) { TI.Store(y + 2 * yo, a0_2); } if (TN.Value > 3) { TI.Store(y + 3 * yo, a0_3); } }
        if (TU.Value > 1 && valid > 1) { TI.Store(y + yp, a1_0); if (TN.Value > 1) { TI.Store(y + yp + yo, a1_1); } if (TN.Value > 2) { TI.Store(y + yp + 2 * yo, a1_2); } if (TN.Value > 3) { TI.Store(y + yp + 3 * yo, a1_3); } }
        if (TU.Value > 2 && valid > 2) { TI.Store(y + 2 * yp, a2_0); if (TN.Value > 1) { TI.Store(y + 2 * yp + yo, a2_1); } if (TN.Value > 2) { TI.Store(y + 2 * yp + 2 * yo, a2_2); } if (TN.Value > 3) { TI.Store(y + 2 * yp + 3 * yo, a2_3); } }
        if (TU.Value > 3 && valid > 3) { TI.Store(y + 3 * yp, a3_0); if (TN.Value > 1) { TI.Store(y + 3 * yp + yo, a3_1); } if (TN.Value > 2) { TI.Store(y + 3 * yp + 2 * yo, a3_2); } if (TN.Value > 3) { TI.Store(y + 3 * yp + 3 * yo, a3_3); } }
        if (TU.Value > 4 && valid > 4) { TI.Store(y + 4 * yp, a4_0); if (TN.Value > 1) { TI.Store(y + 4 * yp + yo, a4_1); } if (TN.Value > 2) { TI.Store(y + 4 * yp + 2 * yo, a4_2); } if (TN.Value > 3) { TI.Store(y + 4 * yp + 3 * yo, a4_3); } }
        if (TU.Value > 5 && valid > 5) { TI.Store(y + 5 * yp, a5_0); if (TN.Value > 1) { TI.Store(y + 5 * yp + yo, a5_1); } if (TN.Value > 2) { TI.Store(y + 5 * yp + 2 * yo, a5_2); } if (TN.Value > 3) { TI.Store(y + 5 * yp + 3 * yo, a5_3); } }
        if (TU.Value > 6 && valid > 6) { TI.Store(y + 6 * yp, a6_0); if (TN.Value > 1) { TI.Store(y + 6 * yp + yo, a6_1); } if (TN.Value > 2) { TI.Store(y + 6 * yp + 2 * yo, a6_2); } if (TN.Value > 3) { TI.Store(y + 6 * yp + 3 * yo, a6_3); } }
        if (TU.Value > 7 && valid > 7) { TI.Store(y + 7 * yp, a7_0); if (TN.Value > 1) { TI.Store(y + 7 * yp + yo, a7_1); } if (TN.Value > 2) { TI.Store(y + 7 * yp + 2 * yo, a7_2); } if (TN.Value > 3) { TI.Store(y + 7 * yp + 3 * yo, a7_3); } }
        if (TU.Value > 8 && valid > 8) { TI.Store(y + 8 * yp, a8_0); if (TN.Value > 1) { TI.Store(y + 8 * yp + yo, a8_1); } if (TN.Value > 2) { TI.Store(y + 8 * yp + 2 * yo, a8_2); } if (TN.Value > 3) { TI.Store(y + 8 * yp + 3 * yo, a8_3); } }
        if (TU.Value > 9 && valid > 9) { TI.Store(y + 9 * yp, a9_0); if (TN.Value > 1) { TI.Store(y + 9 * yp + yo, a9_1); } if (TN.Value > 2) { TI.Store(y + 9 * yp + 2 * yo, a9_2); } if (TN.Value > 3) { TI.Store(y + 9 * yp + 3 * yo, a9_3); } }
        if (TU.Value > 10 && valid > 10) { TI.Store(y + 10 * yp, a10_0); if (TN.Value > 1) { TI.Store(y + 10 * yp + yo, a10_1); } if (TN.Value > 2) { TI.Store(y + 10 * yp + 2 * yo, a10_2); } if (TN.Value > 3) { TI.Store(y + 10 * yp + 3 * yo, a10_3); } }
        if (TU.Value > 11 && valid > 11) { TI.Store(y + 11 * yp, a11_0); if (TN.Value > 1) { TI.Store(y + 11 * yp + yo, a11_1); } if (TN.Value > 2) { TI.Store(y + 11 * yp + 2 * yo, a11_2); } if (TN.Value > 3) { TI.Store(y + 11 * yp + 3 * yo, a11_3); } }
        if (TU.Value > 12 && valid > 12) { TI.Store(y + 12 * yp, a12_0); if (TN.Value > 1) { TI.Store(y + 12 * yp + yo, a12_1); } if (TN.Value > 2) { TI.Store(y + 12 * yp + 2 * yo, a12_2); } if (TN.Value > 3) { TI.Store(y + 12 * yp + 3 * yo, a12_3); } }
        if (TU.Value > 13 && valid > 13) { TI.Store(y + 13 * yp, a13_0); if (TN.Value > 1) { TI.Store(y + 13 * yp + yo, a13_1); } if (TN.Value > 2) { TI.Store(y + 13 * yp + 2 * yo, a13_2); } if (TN.Value > 3) { TI.Store(y + 13 * yp + 3 * yo, a13_3); } }
    }

    /// <summary>Runs one tile of <paramref name="pixels"/> pixels (1..<c>TI.MaxPixels</c>), input pixel stride <paramref name="pixelStride"/> blocks (any; 1 and 2 are specialised), <paramref name="outBlocks"/> (1 or 2) output blocks.</summary>
    public static void Dispatch<TI, TV>(int pixels, int pixelStride, int outBlocks, ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct
    {
        if (pixelStride == 1) { ByPixels<TI, TV, C1>(pixels, outBlocks, ref a); }
        else if (pixelStride == 2) { ByPixels<TI, TV, C2>(pixels, outBlocks, ref a); }
        else { ByPixels<TI, TV, C0>(pixels, outBlocks, ref a); }
    }

    private static void ByPixels<TI, TV, TP>(int pixels, int outBlocks, ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct where TP : struct, IConstant
    {
        switch (outBlocks)
        {
            case 4: ByPixels<TI, TV, TP, C4>(pixels, ref a); break;
            case 2: ByPixels<TI, TV, TP, C2>(pixels, ref a); break;
            case 1: ByPixels<TI, TV, TP, C1>(pixels, ref a); break;
            default: throw new ArgumentOutOfRangeException(nameof(outBlocks), $"a tile holds 1, 2 or 4 output blocks; got {outBlocks}");
        }
    }

    private static void ByPixels<TI, TV, TP, TN>(int pixels, ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct where TP : struct, IConstant where TN : struct, IConstant
    {
        switch (pixels)
        {
            case 1: Run<TI, TV, C1, TP, TN>(ref a); break;
            case 2: Run<TI, TV, C2, TP, TN>(ref a); break;
            case 3: Run<TI, TV, C3, TP, TN>(ref a); break;
            case 4: Run<TI, TV, C4, TP, TN>(ref a); break;
            case 5: Run<TI, TV, C5, TP, TN>(ref a); break;
            case 6: Run<TI, TV, C6, TP, TN>(ref a); break;
            case 7: Run<TI, TV, C7, TP, TN>(ref a); break;
            case 8: Run<TI, TV, C8, TP, TN>(ref a); break;
            case 9: Run<TI, TV, C9, TP, TN>(ref a); break;
            case 10: Run<TI, TV, C10, TP, TN>(ref a); break;
            case 11: Run<TI, TV, C11, TP, TN>(ref a); break;
            case 12: Run<TI, TV, C12, TP, TN>(ref a); break;
            case 13: Run<TI, TV, C13, TP, TN>(ref a); break;
            case 14: Run<TI, TV, C14, TP, TN>(ref a); break;
            default: throw new ArgumentOutOfRangeException(nameof(pixels), $"a tile holds 1..{TI.MaxPixels} pixels; got {pixels}");
        }
    }

    /// <summary>
    /// The backward-weight register tile: the weight gradient of half an input-channel block (<c>Lanes/2</c> input lanes)
    /// × <typeparamref name="TN"/> output-channel blocks for one kernel tap, kept in registers along one output row:
    /// per pixel one dY vector load per output block, one broadcast of x per input lane, one FMA per accumulator.
    /// <c>acc[o·accOut + l·Lanes + lane]</c> is loaded, accumulated over <paramref name="count"/> pixels in order, and stored back.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void WeightRow<TI, TV, TN>(float* acc, nint accOut, float* dy, nint dyOut, float* x, nint xStep, int count)
        where TI : struct, ISimdIsa<TV> where TV : struct where TN : struct, IConstant
    {
        int lanes = TI.Lanes;
        int half = lanes / 2;
        TV d0_0 = half > 0 ? TI.Load(acc + 0 * lanes) : default, d0_1 = half > 0 && TN.Value > 1 ? TI.Load(acc + accOut + 0 * lanes) : default;
        TV d1_0 = half > 1 ? TI.Load(acc + 1 * lanes) : default, d1_1 = half > 1 && TN.Value > 1 ? TI.Load(acc + accOut + 1 * lanes) : default;
        TV d2_0 = half > 2 ? TI.Load(acc + 2 * lanes) : default, d2_1 = half > 2 && TN.Value > 1 ? TI.Load(acc + accOut + 2 * lanes) : default;
        TV d3_0 = half > 3 ? TI.Load(acc + 3 * lanes) : default, d3_1 = half > 3 && TN.Value > 1 ? TI.Load(acc + accOut + 3 * lanes) : default;
        TV d4_0 = half > 4 ? TI.Load(acc + 4 * lanes) : default, d4_1 = half > 4 && TN.Value > 1 ? TI.Load(acc + accOut + 4 * lanes) : default;
        TV d5_0 = half > 5 ? TI.Load(acc + 5 * lanes) : default, d5_1 = half > 5 && TN.Value > 1 ? TI.Load(acc + accOut + 5 * lanes) : default;
        TV d6_0 = half > 6 ? TI.Load(acc + 6 * lanes) : default, d6_1 = half > 6 && TN.Value > 1 ? TI.Load(acc + accOut + 6 * lanes) : default;
        TV d7_0 = half > 7 ? TI.Load(acc + 7 * lanes) : default, d7_1 = half > 7 && TN.Value > 1 ? TI.Load(acc + accOut + 7 * lanes) : default;
        for (int i = 0; i < count; i++, dy += lanes, x += xStep)
        {
            TV g0 = TI.Load(dy);
            TV g1 = TN.Value > 1 ? TI.Load(dy + dyOut) : default;
            if (half > 0) { TV v = TI.Broadcast(x + 0); d0_0 = TI.Fma(v, g0, d0_0); if (TN.Value > 1) { d0_1 = TI.Fma(v, g1, d0_1); } }
            if (half > 1) { TV v = TI.Broadcast(x + 1); d1_0 = TI.Fma(v, g0, d1_0); if (TN.Value > 1) { d1_1 = TI.Fma(v, g1, d1_1); } }
            if (half > 2) { TV v = TI.Broadcast(x + 2); d2_0 = TI.Fma(v, g0, d2_0); if (TN.Value > 1) { d2_1 = TI.Fma(v, g1, d2_1); } }
            if (half > 3) { TV v = TI.Broadcast(x + 3); d3_0 = TI.Fma(v, g0, d3_0); if (TN.Value > 1) { d3_1 = TI.Fma(v, g1, d3_1); } }
            if (half > 4) { TV v = TI.Broadcast(x + 4); d4_0 = TI.Fma(v, g0, d4_0); if (TN.Value > 1) { d4_1 = TI.Fma(v, g1, d4_1); } }
            if (half > 5) { TV v = TI.Broadcast(x + 5); d5_0 = TI.Fma(v, g0, d5_0); if (TN.Value > 1) { d5_1 = TI.Fma(v, g1, d5_1); } }
            if (half > 6) { TV v = TI.Broadcast(x + 6); d6_0 = TI.Fma(v, g0, d6_0); if (TN.Value > 1) { d6_1 = TI.Fma(v, g1, d6_1); } }
            if (half > 7) { TV v = TI.Broadcast(x + 7); d7_0 = TI.Fma(v, g0, d7_0); if (TN.Value > 1) { d7_1 = TI.Fma(v, g1, d7_1); } }
        }
        if (half > 0) { TI.Store(acc + 0 * lanes, d0_0); if (TN.Value > 1) { TI.Store(acc + accOut + 0 * lanes, d0_1); } }
        if (half > 1) { TI.Store(acc + 1 * lanes, d1_0); if (TN.Value > 1) { TI.Store(acc + accOut + 1 * lanes, d1_1); } }
        if (half > 2) { TI.Store(acc + 2 * lanes, d2_0); if (TN.Value > 1) { TI.Store(acc + accOut + 2 * lanes, d2_1); } }
        if (half > 3) { TI.Store(acc + 3 * lanes, d3_0); if (TN.Value > 1) { TI.Store(acc + accOut + 3 * lanes, d3_1); } }
        if (half > 4) { TI.Store(acc + 4 * lanes, d4_0); if (TN.Value > 1) { TI.Store(acc + accOut + 4 * lanes, d4_1); } }
        if (half > 5) { TI.Store(acc + 5 * lanes, d5_0); if (TN.Value > 1) { TI.Store(acc + accOut + 5 * lanes, d5_1); } }
        if (half > 6) { TI.Store(acc + 6 * lanes, d6_0); if (TN.Value > 1) { TI.Store(acc + accOut + 6 * lanes, d6_1); } }
        if (half > 7) { TI.Store(acc + 7 * lanes, d7_0); if (TN.Value > 1) { TI.Store(acc + accOut + 7 * lanes, d7_1); } }
    }
}
