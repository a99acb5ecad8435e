using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise forward (multiplier 1, 1-D or 2-D) on blocks of eight channels:
/// <c>y[n, c, o] = b[c] + Σ_r x[n, c, o·s + r·d − p] · w[c, 0, r]</c> computed with the eight channels c0 .. c0+7 in the
/// eight lanes of a vector, as oneDNN does on its channel-blocked layout, while the tensors stay NCHW.
/// </summary>
/// <remarks>
/// A unit is (image, 8-channel block). Its eight input planes are transposed (8×8 AVX transposes) into a zero-padded
/// pixel-major block <c>[rows][cols][8]</c> in L1/L2, so every tap of every output pixel is one whole, useful vector:
/// no partial vectors at row ends (the per-channel row kernels spend an eighth of their lanes there on 28-wide rows),
/// no padding tests, and the R·S weight vectors come from a small table. Eight output pixels at a time share each weight
/// load (eight independent FMA chains cover the FMA latency); each output row is transposed back into the eight
/// channels' rows. Channels past C in the last block are zero lanes and are not stored. Every output is written by
/// one unit, so the result does not depend on the thread count.
/// </remarks>
internal sealed unsafe class DepthwiseForwardChannelBlocked : IPartitionedWork
{
    private const int Lanes = ChannelBlocks.Lanes;

    /// <summary>The largest padded block (floats) this kernel stages; larger planes use the per-channel row kernels.</summary>
    private const long MaxBlockFloats = 1L << 21;

    private readonly ConvProblem _p;
    private readonly float* _x, _w, _b, _y;
    private readonly int _rows, _cols, _blocks;

    public DepthwiseForwardChannelBlocked(ConvProblem p, float* x, float* w, float* b, float* y)
    {
        _p = p;
        _x = x;
        _w = w;
        _b = b;
        _y = y;
        (_rows, _cols) = PaddedSize(p);
        _blocks = ChannelBlocks.Count(p.C);
    }

    /// <summary>
    /// Whether this kernel computes <paramref name="p"/>: one input and one output channel per group, at most two
    /// spatial axes, at least one whole block of channels, AVX2 + FMA, and a padded plane block of bounded size.
    /// </summary>
    public static bool Applies(ConvProblem p)
    {
        if (!Fma.IsSupported || !Avx2.IsSupported || p.Cg != 1 || p.Kg != 1 || p.C < Lanes
            || p.In[0] != 1 || p.Ker[0] != 1 || p.Out[0] != 1)
        {
            return false;
        }
        var (rows, cols) = PaddedSize(p);
        return (long)rows * cols * Lanes <= MaxBlockFloats;
    }

    /// <summary>Rows and columns of the padded block: every position an output reads, in padded coordinates i + p.</summary>
    internal static (int Rows, int Cols) PaddedSize(ConvProblem p) =>
        (Math.Max(p.In[1] + p.Pad[1], (p.Out[1] - 1) * p.Stride[1] + (p.Ker[1] - 1) * p.Dil[1] + 1),
         Math.Max(p.In[2] + p.Pad[2], (p.Out[2] - 1) * p.Stride[2] + (p.Ker[2] - 1) * p.Dil[2] + 1));

    /// <summary>Scratch floats of one part: the padded block, one output row of pixels, the weight and bias vectors, a zero row.</summary>
    public static long WorkspaceFloats(ConvProblem p)
    {
        var (rows, cols) = PaddedSize(p);
        return (long)rows * cols * Lanes + (long)(p.Out[2] + Lanes) * Lanes + (p.KerSpatial + 1) * Lanes + p.In[2] + Lanes;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.N * _blocks, part, parts);
        if (begin >= end)
        {
            return;
        }
        long blockFloats = (long)_rows * _cols * Lanes;
        int outW = p.Out[2], outH = p.Out[1], inW = p.In[2], inH = p.In[1], ks = p.KerSpatial;
        using var scratch = new NativeBuffer<float>(WorkspaceFloats(p));
        float* block = scratch.Pointer;
        float* rowOut = block + blockFloats;
        float* weights = rowOut + (long)(outW + Lanes) * Lanes;
        float* bias = weights + (long)ks * Lanes;
        float* zeros = bias + Lanes;
        // Padding positions are never written: zero them (and the zero row) once.
        NativeMemory.Clear(block, (nuint)blockFloats * sizeof(float));
        NativeMemory.Clear(zeros, (nuint)(inW + Lanes) * sizeof(float));
        float** rows = stackalloc float*[Lanes];
        for (int unit = begin; unit < end; unit++)
        {
            int n = unit / _blocks, c0 = unit % _blocks * Lanes, count = Math.Min(Lanes, p.C - c0);
            // Weight and bias vectors: lane j is channel c0 + j (zero past C).
            ChannelBlocks.WeightVectors(_w, c0, count, ks, weights);
            for (int j = 0; j < Lanes; j++)
            {
                bias[j] = j < count && _b != null ? _b[c0 + j] : 0f;
            }
            // Stage the eight input planes pixel-major: block[(iy + p_h)·cols + ix + p_w][j] = x[n, c0 + j, iy, ix].
            ChannelBlocks.Stage(_x + ((long)n * p.C + c0) * p.InSpatial, p.InSpatial, count, inH, inW, zeros, rows,
                block + ((long)p.Pad[1] * _cols + p.Pad[2]) * Lanes, (nint)_cols * Lanes);
            float* yImage = _y + ((long)n * p.C + c0) * p.OutSpatial;
            for (int oy = 0; oy < outH; oy++)
            {
                OutputRow(block + (long)oy * p.Stride[1] * _cols * Lanes, weights, bias, rowOut);
                ChannelBlocks.StoreRow(rowOut, yImage, p.OutSpatial, count, oy, outW, rows);
            }
        }
    }

    /// <summary>One output row: pixels in blocks of 8, then 4, 2, 1; each pixel's vector is bias + Σ_taps w_tap · block[tap].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OutputRow(float* top, float* weights, float* bias, float* rowOut)
    {
        var p = _p;
        int outW = p.Out[2], ox = 0;
        for (; ox + 8 <= outW; ox += 8)
        {
            Pixels<Eight>(top, ox, weights, bias, rowOut);
        }
        if (ox + 4 <= outW)
        {
            Pixels<Four>(top, ox, weights, bias, rowOut);
            ox += 4;
        }
        if (ox + 2 <= outW)
        {
            Pixels<Two>(top, ox, weights, bias, rowOut);
            ox += 2;
        }
        if (ox < outW)
        {
            Pixels<One>(top, ox, weights, bias, rowOut);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pixels<TCount>(float* top, int ox, float* weights, float* bias, float* rowOut)
        where TCount : struct, ICount
    {
        var p = _p;
        int n = TCount.Value, kh = p.Ker[1], kw = p.Ker[2];
        nint step = (nint)p.Stride[2] * Lanes, colTap = (nint)p.Dil[2] * Lanes, rowTap = (nint)p.Dil[1] * _cols * Lanes;
        var b = Avx.LoadVector256(bias);
        Vector256<float> a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
        float* w = weights;
        float* rowStart = top + (nint)ox * step;
        for (int r = 0; r < kh; r++, rowStart += rowTap)
        {
            float* s = rowStart;
            for (int t = 0; t < kw; t++, s += colTap, w += Lanes)
            {
                var wv = Avx.LoadVector256(w);
                a0 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s), a0);
                if (n > 1) a1 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + step), a1);
                if (n > 2) a2 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 2 * step), a2);
                if (n > 3) a3 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 3 * step), a3);
                if (n > 4) a4 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 4 * step), a4);
                if (n > 5) a5 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 5 * step), a5);
                if (n > 6) a6 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 6 * step), a6);
                if (n > 7) a7 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 7 * step), a7);
            }
        }
        float* o = rowOut + (nint)ox * Lanes;
        Avx.Store(o, a0);
        if (n > 1) Avx.Store(o + Lanes, a1);
        if (n > 2) Avx.Store(o + 2 * Lanes, a2);
        if (n > 3) Avx.Store(o + 3 * Lanes, a3);
        if (n > 4) Avx.Store(o + 4 * Lanes, a4);
        if (n > 5) Avx.Store(o + 5 * Lanes, a5);
        if (n > 6) Avx.Store(o + 6 * Lanes, a6);
        if (n > 7) Avx.Store(o + 7 * Lanes, a7);
    }
}
