using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// The layout the channel-blocked depthwise kernels share: eight channels' planes (NCHW, <c>planeFloats</c> apart)
/// seen as one plane of pixels whose eight lanes are the eight channels, <c>block[y][x][j] = plane_j[y][x]</c>. Staging
/// into it and storing out of it are 8×8 transposes; lanes past the last channel are zeros (read from a zero row) and
/// are never stored.
/// </summary>
internal static unsafe class ChannelBlocks
{
    /// <summary>Channels per block: one Vector256 of floats.</summary>
    public const int Lanes = 8;

    /// <summary>Blocks of <see cref="Lanes"/> channels covering <paramref name="channels"/> (the last may be partial).</summary>
    public static int Count(int channels) => (channels + Lanes - 1) / Lanes;

    /// <summary><c>dst[t·8 + j] = w[(c0 + j)·taps + t]</c> for lanes j &lt; count, 0 past them: one weight vector per kernel tap.</summary>
    public static void WeightVectors(float* w, int c0, int count, int taps, float* dst)
    {
        for (int t = 0; t < taps; t++)
        {
            for (int j = 0; j < Lanes; j++)
            {
                dst[t * Lanes + j] = j < count ? w[(long)(c0 + j) * taps + t] : 0f;
            }
        }
    }

    /// <summary>
    /// Stages <paramref name="count"/> planes of <paramref name="height"/> × <paramref name="width"/> pixel-major:
    /// <c>dst[y·dstRow + x·8 + j] = planes[j·planeFloats + y·width + x]</c>; lanes past count read
    /// <paramref name="zeros"/> (at least max(width, 8) zeros). <paramref name="rows"/> is scratch for 8 pointers.
    /// </summary>
    public static void Stage(float* planes, long planeFloats, int count, int height, int width, float* zeros, float** rows, float* dst, nint dstRow)
    {
        for (int y = 0; y < height; y++)
        {
            for (int j = 0; j < Lanes; j++)
            {
                rows[j] = j < count ? planes + j * planeFloats + (long)y * width : zeros;
            }
            ToPixels(rows, width, dst + y * dstRow);
        }
    }

    /// <summary>Stores one row of pixels back into row <paramref name="y"/> of the <paramref name="count"/> planes (the inverse of one row of <see cref="Stage"/>).</summary>
    public static void StoreRow(float* src, float* planes, long planeFloats, int count, int y, int width, float** rows)
    {
        for (int j = 0; j < count; j++)
        {
            rows[j] = planes + j * planeFloats + (long)y * width;
        }
        FromPixels(src, width, rows, count);
    }

    /// <summary>
    /// <c>dst[i·8 + j] = rows[j][i]</c> for i &lt; count: eight rows to pixel-major vectors. A last partial group of 8
    /// pixels is redone overlapping the previous one (the same values rewritten), so only rows under 8 go scalar.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToPixels(float** rows, int count, float* dst)
    {
        if (count < 8)
        {
            for (int i = 0; i < count; i++)
            {
                for (int j = 0; j < Lanes; j++)
                {
                    dst[(nint)i * Lanes + j] = rows[j][i];
                }
            }
            return;
        }
        for (int i = 0; i < count; i += 8)
        {
            int at = Math.Min(i, count - 8);
            Transposes.Transpose8x8(rows, at, dst + (nint)at * Lanes, Lanes);
        }
    }

    /// <summary><c>rows[j][i] = src[i·8 + j]</c> for i &lt; count, j &lt; channels: pixel-major vectors back to channel rows (last partial group overlapped as in <see cref="ToPixels"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FromPixels(float* src, int count, float** rows, int channels)
    {
        if (count >= 8 && channels == Lanes)
        {
            for (int i = 0; i < count; i += 8)
            {
                int at = Math.Min(i, count - 8);
                Transposes.Transpose8x8(src + (nint)at * Lanes, Lanes, rows, at);
            }
            return;
        }
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < channels; j++)
            {
                rows[j][i] = src[(nint)i * Lanes + j];
            }
        }
    }
}
