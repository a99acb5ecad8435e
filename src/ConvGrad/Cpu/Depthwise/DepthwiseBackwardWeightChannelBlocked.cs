using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise backward-weight (multiplier 1, 1-D or 2-D) on blocks of eight channels:
/// <c>dw[c, 0, r] = Σ_n Σ_o dy[n, c, o] · x[n, c, o·s + r·d − p]</c> with the eight channels c0 .. c0+7 in the eight
/// lanes of a vector, so each lane's sum is one channel's weight gradient and no horizontal sum is needed.
/// </summary>
/// <remarks>
/// A unit is one 8-channel block; threads split the blocks, never a sum. For each image the eight x planes are staged
/// pixel-major and zero-padded (<see cref="DepthwiseForwardChannelBlocked"/>'s layout) and the eight dY planes
/// pixel-major. Then, per kernel row and per group of up to three taps of it, three output pixels at a time are
/// multiplied into nine partial sums (three pixels' phases × three taps: nine independent FMA chains, 12 loads per
/// 9 FMAs), kept in memory between images and added in a fixed order at the end. The summation order of every dw
/// element is thus a function of the shape alone: bitwise identical for any thread count.
/// </remarks>
internal sealed unsafe class DepthwiseBackwardWeightChannelBlocked : IPartitionedWork
{
    private const int Lanes = ChannelBlocks.Lanes;

    /// <summary>Pixel phases: pixels o ≡ 0, 1, 2 (mod 3) of each output row go to separate partial sums.</summary>
    private const int Phases = 3;

    private readonly ConvProblem _p;
    private readonly float* _x, _dy, _dw;
    private readonly int _rows, _cols, _blocks;

    public DepthwiseBackwardWeightChannelBlocked(ConvProblem p, float* x, float* dy, float* dw)
    {
        _p = p;
        _x = x;
        _dy = dy;
        _dw = dw;
        (_rows, _cols) = DepthwiseForwardChannelBlocked.PaddedSize(p);
        _blocks = ChannelBlocks.Count(p.C);
    }

    /// <summary>The same conditions as the channel-blocked forward (the staged x block is the same).</summary>
    public static bool Applies(ConvProblem p) => DepthwiseForwardChannelBlocked.Applies(p);

    /// <summary>Scratch floats of one part: the padded x block, the dY block, the partial sums and a zero row.</summary>
    public static long WorkspaceFloats(ConvProblem p)
    {
        var (rows, cols) = DepthwiseForwardChannelBlocked.PaddedSize(p);
        return (long)rows * cols * Lanes + (long)p.OutSpatial * Lanes + (long)p.KerSpatial * Phases * Lanes + Math.Max(p.In[2], p.Out[2]) + Lanes;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(_blocks, part, parts);
        if (begin >= end)
        {
            return;
        }
        long blockFloats = (long)_rows * _cols * Lanes;
        int inW = p.In[2], inH = p.In[1], outW = p.Out[2], outH = p.Out[1], ks = p.KerSpatial, kh = p.Ker[1], kw = p.Ker[2];
        using var scratch = new NativeBuffer<float>(WorkspaceFloats(p));
        float* xBlock = scratch.Pointer;
        float* dyBlock = xBlock + blockFloats;
        float* partial = dyBlock + (long)p.OutSpatial * Lanes;
        float* zeros = partial + (long)ks * Phases * Lanes;
        NativeMemory.Clear(xBlock, (nuint)blockFloats * sizeof(float));
        NativeMemory.Clear(zeros, (nuint)(Math.Max(inW, outW) + Lanes) * sizeof(float));
        float** rows = stackalloc float*[Lanes];
        nint colTap = (nint)p.Dil[2] * Lanes, rowTap = (nint)p.Dil[1] * _cols * Lanes;
        for (int blk = begin; blk < end; blk++)
        {
            int c0 = blk * Lanes, count = Math.Min(Lanes, p.C - c0);
            NativeMemory.Clear(partial, (nuint)((long)ks * Phases * Lanes) * sizeof(float));
            for (int n = 0; n < p.N; n++)
            {
                ChannelBlocks.Stage(_x + ((long)n * p.C + c0) * p.InSpatial, p.InSpatial, count, inH, inW, zeros, rows,
                    xBlock + ((long)p.Pad[1] * _cols + p.Pad[2]) * Lanes, (nint)_cols * Lanes);
                ChannelBlocks.Stage(_dy + ((long)n * p.C + c0) * p.OutSpatial, p.OutSpatial, count, outH, outW, zeros, rows,
                    dyBlock, (nint)outW * Lanes);
                for (int r = 0; r < kh; r++)
                {
                    for (int s0 = 0; s0 < kw; s0 += 3)
                    {
                        int taps = Math.Min(3, kw - s0);
                        float* acc = partial + (long)(r * kw + s0) * Phases * Lanes;
                        float* xTap = xBlock + r * rowTap + s0 * colTap;
                        switch (taps)
                        {
                            case 3: Accumulate<Three>(dyBlock, xTap, colTap, acc); break;
                            case 2: Accumulate<Two>(dyBlock, xTap, colTap, acc); break;
                            default: Accumulate<One>(dyBlock, xTap, colTap, acc); break;
                        }
                    }
                }
            }
            // dw[c0 + j, t] = (phase 0 + phase 1) + phase 2, lane j.
            for (int t = 0; t < ks; t++)
            {
                float* a = partial + (long)t * Phases * Lanes;
                for (int j = 0; j < count; j++)
                {
                    _dw[(long)(c0 + j) * ks + t] = (a[j] + a[Lanes + j]) + a[2 * Lanes + j];
                }
            }
        }
    }

    /// <summary>
    /// acc[tap][phase] += Σ over output pixels o with o mod 3 = phase of dy[o] · x[o·s + tap] for up to three taps of one
    /// kernel row (<paramref name="xTap"/> is the first tap's offset into the staged x block).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Accumulate<TTaps>(float* dyBlock, float* xTap, nint colTap, float* acc)
        where TTaps : struct, ICount
    {
        var p = _p;
        int taps = TTaps.Value, outW = p.Out[2], outH = p.Out[1];
        nint step = (nint)p.Stride[2] * Lanes, rowStep = (nint)p.Stride[1] * _cols * Lanes;
        const int L = Lanes;
        // a{tap}{phase}
        var a00 = Avx.LoadVector256(acc);
        var a01 = Avx.LoadVector256(acc + L);
        var a02 = Avx.LoadVector256(acc + 2 * L);
        var a10 = taps > 1 ? Avx.LoadVector256(acc + 3 * L) : default;
        var a11 = taps > 1 ? Avx.LoadVector256(acc + 4 * L) : default;
        var a12 = taps > 1 ? Avx.LoadVector256(acc + 5 * L) : default;
        var a20 = taps > 2 ? Avx.LoadVector256(acc + 6 * L) : default;
        var a21 = taps > 2 ? Avx.LoadVector256(acc + 7 * L) : default;
        var a22 = taps > 2 ? Avx.LoadVector256(acc + 8 * L) : default;
        float* d = dyBlock;
        float* xRow = xTap;
        for (int oy = 0; oy < outH; oy++, xRow += rowStep)
        {
            float* x = xRow;
            int ox = 0;
            for (; ox + 3 <= outW; ox += 3, d += 3 * L, x += 3 * step)
            {
                var d0 = Avx.LoadVector256(d);
                var d1 = Avx.LoadVector256(d + L);
                var d2 = Avx.LoadVector256(d + 2 * L);
                a00 = Fma.MultiplyAdd(d0, Avx.LoadVector256(x), a00);
                a01 = Fma.MultiplyAdd(d1, Avx.LoadVector256(x + step), a01);
                a02 = Fma.MultiplyAdd(d2, Avx.LoadVector256(x + 2 * step), a02);
                if (taps > 1)
                {
                    a10 = Fma.MultiplyAdd(d0, Avx.LoadVector256(x + colTap), a10);
                    a11 = Fma.MultiplyAdd(d1, Avx.LoadVector256(x + colTap + step), a11);
                    a12 = Fma.MultiplyAdd(d2, Avx.LoadVector256(x + colTap + 2 * step), a12);
                }
                if (taps > 2)
                {
                    a20 = Fma.MultiplyAdd(d0, Avx.LoadVector256(x + 2 * colTap), a20);
                    a21 = Fma.MultiplyAdd(d1, Avx.LoadVector256(x + 2 * colTap + step), a21);
                    a22 = Fma.MultiplyAdd(d2, Avx.LoadVector256(x + 2 * colTap + 2 * step), a22);
                }
            }
            // The last one or two pixels of the row: phases 0 and 1.
            for (int ph = 0; ox < outW; ox++, ph++, d += L, x += step)
            {
                var dv = Avx.LoadVector256(d);
                if (ph == 0)
                {
                    a00 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x), a00);
                    if (taps > 1) a10 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x + colTap), a10);
                    if (taps > 2) a20 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x + 2 * colTap), a20);
                }
                else
                {
                    a01 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x), a01);
                    if (taps > 1) a11 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x + colTap), a11);
                    if (taps > 2) a21 = Fma.MultiplyAdd(dv, Avx.LoadVector256(x + 2 * colTap), a21);
                }
            }
        }
        Avx.Store(acc, a00);
        Avx.Store(acc + L, a01);
        Avx.Store(acc + 2 * L, a02);
        if (taps > 1)
        {
            Avx.Store(acc + 3 * L, a10);
            Avx.Store(acc + 4 * L, a11);
            Avx.Store(acc + 5 * L, a12);
        }
        if (taps > 2)
        {
            Avx.Store(acc + 6 * L, a20);
            Avx.Store(acc + 7 * L, a21);
            Avx.Store(acc + 8 * L, a22);
        }
    }
}
