// The unrolled register tile of the blocked depthwise kernels: channels are the lanes, one accumulator per pixel.
using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The depthwise register tile on the channel-blocked layout: the lanes are the block's channels, each convolved with
/// its own filter, so there is nothing to broadcast and nothing to transpose. <c>U</c> pixels of accumulators; per
/// kernel row and tap, one weight vector load and one input vector load and FMA per pixel. Uses the fields of
/// <see cref="TileArgs"/> with one input block and no second output block.
/// </summary>
internal static unsafe class DepthwiseTile
{
    /// <summary>Runs one tile of <typeparamref name="TU"/> pixels with input pixel stride <typeparamref name="TP"/> blocks (0: <see cref="TileArgs.PixelStride"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Run<TI, TV, TU, TP>(ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct where TU : struct, IConstant where TP : struct, IConstant
    {
        int lanes = TI.Lanes;
        nint ps = TP.Value == 0 ? a.PixelStride : (nint)TP.Value * lanes;
        TV i0 = a.Init == null ? TI.Zero : TI.Load(a.Init);
        TV a0 = i0;
        TV a1 = i0;
        TV a2 = i0;
        TV a3 = i0;
        TV a4 = i0;
        TV a5 = i0;
        TV a6 = i0;
        TV a7 = i0;
        TV a8 = i0;
        TV a9 = i0;
        TV a10 = i0;
        TV a11 = i0;
        TV a12 = i0;
        TV a13 = i0;
        nint xTap = a.XTap, wTap = a.WTap;
        nint* rowX = a.RowX;
        nint* rowW = a.RowW;
        int rows = a.Rows, taps = a.Taps;
        for (int r = 0; r < rows; r++)
        {
            float* xm = a.X + rowX[r];
            float* wm = a.W + rowW[r];
            for (int m = 0; m < taps; m++, xm += xTap, wm += wTap)
            {
                TV w = TI.Load(wm);
                if (TU.Value > 0) { a0 = TI.Fma(TI.Load(xm), w, a0); }
                if (TU.Value > 1) { a1 = TI.Fma(TI.Load(xm + ps), w, a1); }
                if (TU.Value > 2) { a2 = TI.Fma(TI.Load(xm + 2 * ps), w, a2); }
                if (TU.Value > 3) { a3 = TI.Fma(TI.Load(xm + 3 * ps), w, a3); }
                if (TU.Value > 4) { a4 = TI.Fma(TI.Load(xm + 4 * ps), w, a4); }
                if (TU.Value > 5) { a5 = TI.Fma(TI.Load(xm + 5 * ps), w, a5); }
                if (TU.Value > 6) { a6 = TI.Fma(TI.Load(xm + 6 * ps), w, a6); }
                if (TU.Value > 7) { a7 = TI.Fma(TI.Load(xm + 7 * ps), w, a7); }
                if (TU.Value > 8) { a8 = TI.Fma(TI.Load(xm + 8 * ps), w, a8); }
                if (TU.Value > 9) { a9 = TI.Fma(TI.Load(xm + 9 * ps), w, a9); }
                if (TU.Value > 10) { a10 = TI.Fma(TI.Load(xm + 10 * ps), w, a10); }
                if (TU.Value > 11) { a11 = TI.Fma(TI.Load(xm + 11 * ps), w, a11); }
                if (TU.Value > 12) { a12 = TI.Fma(TI.Load(xm + 12 * ps), w, a12); }
                if (TU.Value > 13) { a13 = TI.Fma(TI.Load(xm + 13 * ps), w, a13); }
            }
        }
        float* y = a.Y;
        nint yp = a.YPix;
        int valid = a.Valid;
        if (TU.Value > 0 && valid > 0) { TI.Store(y, a0); }
        if (TU.Value > 1 && valid > 1) { TI.Store(y + yp, a1); }
        if (TU.Value > 2 && valid > 2) { TI.Store(y + 2 * yp, a2); }
        if (TU.Value > 3 && valid > 3) { TI.Store(y + 3 * yp, a3); }
        if (TU.Value > 4 && valid > 4) { TI.Store(y + 4 * yp, a4); }
        if (TU.Value > 5 && valid > 5) { TI.Store(y + 5 * yp, a5); }
        if (TU.Value > 6 && valid > 6) { TI.Store(y + 6 * yp, a6); }
        if (TU.Value > 7 && valid > 7) { TI.Store(y + 7 * yp, a7); }
        if (TU.Value > 8 && valid > 8) { TI.Store(y + 8 * yp, a8); }
        if (TU.Value > 9 && valid > 9) { TI.Store(y + 9 * yp, a9); }
        if (TU.Value > 10 && valid > 10) { TI.Store(y + 10 * yp, a10); }
        if (TU.Value > 11 && valid > 11) { TI.Store(y + 11 * yp, a11); }
        if (TU.Value > 12 && valid > 12) { TI.Store(y + 12 * yp, a12); }
        if (TU.Value > 13 && valid > 13) { TI.Store(y + 13 * yp, a13); }
    }

    /// <summary>Runs one tile of <paramref name="pixels"/> pixels (1..<c>TI.MaxPixels</c>) with input pixel stride <paramref name="pixelStride"/> blocks (1 and 2 are specialised).</summary>
    public static void Dispatch<TI, TV>(int pixels, int pixelStride, ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct
    {
        if (pixelStride == 1) { ByPixels<TI, TV, C1>(pixels, ref a); }
        else if (pixelStride == 2) { ByPixels<TI, TV, C2>(pixels, ref a); }
        else { ByPixels<TI, TV, C0>(pixels, ref a); }
    }

    private static void ByPixels<TI, TV, TP>(int pixels, ref TileArgs a)
        where TI : struct, ISimdIsa<TV> where TV : struct where TP : struct, IConstant
    {
        switch (pixels)
        {
            case 1: Run<TI, TV, C1, TP>(ref a); break;
            case 2: Run<TI, TV, C2, TP>(ref a); break;
            case 3: Run<TI, TV, C3, TP>(ref a); break;
            case 4: Run<TI, TV, C4, TP>(ref a); break;
            case 5: Run<TI, TV, C5, TP>(ref a); break;
            case 6: Run<TI, TV, C6, TP>(ref a); break;
            case 7: Run<TI, TV, C7, TP>(ref a); break;
            case 8: Run<TI, TV, C8, TP>(ref a); break;
            case 9: Run<TI, TV, C9, TP>(ref a); break;
            case 10: Run<TI, TV, C10, TP>(ref a); break;
            case 11: Run<TI, TV, C11, TP>(ref a); break;
            case 12: Run<TI, TV, C12, TP>(ref a); break;
            case 13: Run<TI, TV, C13, TP>(ref a); break;
            case 14: Run<TI, TV, C14, TP>(ref a); break;
            default: throw new ArgumentOutOfRangeException(nameof(pixels), $"a tile holds 1..{TI.MaxPixels} pixels; got {pixels}");
        }
    }
}
