using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// One input plane <c>x[D, H, W]</c> rewritten as zero-padded, stride-de-interleaved rows: for every input row
/// and every width phase φ ∈ [0, s_w), <c>row_φ[j] = x[j·s_w + φ − p_w]</c> (0 outside <c>[0, W)</c>).
/// </summary>
/// <remarks>
/// Output column <c>o</c> of kernel column <c>r</c> reads <c>x[o·s_w + r·d_w − p_w] = row_φ[o + ⌊r·d_w / s_w⌋]</c> with
/// <c>φ = r·d_w mod s_w</c>, so every tap becomes a contiguous, bounds-free run of the row at any stride: no
/// lane of a strided load is wasted and no padding test is left in the inner loop.
/// </remarks>
internal readonly unsafe struct PhasedInputRows
{
    public readonly int Phases, RowLength, Rows, Width, Pad;

    public PhasedInputRows(ConvProblem p)
    {
        Phases = p.Stride[2];
        Width = p.In[2];
        Pad = p.Pad[2];
        Rows = p.In[0] * p.In[1];
        int maxBase = (p.Ker[2] - 1) * p.Dil[2] / Phases;
        RowLength = DepthwiseBlocking.RoundUp(DepthwiseBlocking.RoundUp(p.Out[2], DepthwiseBlocking.TileFloats) + maxBase, DepthwiseBlocking.RowGranule);
    }

    /// <summary>Floats of one rewritten plane.</summary>
    public long Floats => (long)Rows * Phases * RowLength;

    /// <summary>Row φ of input row <paramref name="row"/> (= iz·H + iy).</summary>
    public float* Row(float* buffer, int row, int phase) => buffer + Offset(row, phase);

    /// <summary>The float offset of row φ of input row <paramref name="row"/> in the buffer.</summary>
    public nint Offset(int row, int phase) => ((nint)row * Phases + phase) * RowLength;

    /// <summary>
    /// Zeroes a whole buffer once per call: the positions <see cref="Fill{TMath}"/> never writes (padding before and
    /// after each phase row) are the same for every plane, so they stay zero while planes come and go.
    /// </summary>
    public void Clear(float* buffer) => NativeMemory.Clear(buffer, (nuint)Floats * sizeof(float));

    /// <summary>
    /// Rewrites the plane <paramref name="x"/> (<c>Rows × Width</c>) into <paramref name="buffer"/>, which
    /// <see cref="Clear"/> has zeroed once: only the positions that read an input element (and the few boundary
    /// positions of stride 2 where one phase is in bounds and the other is not) are written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Fill<TMath>(float* x, float* buffer)
        where TMath : struct, IRowMath
    {
        for (int r = 0; r < Rows; r++)
        {
            float* src = x + (long)r * Width;
            if (Phases == 2)
            {
                FillStride2<TMath>(src, Row(buffer, r, 0), Row(buffer, r, 1));
                continue;
            }
            for (int phase = 0; phase < Phases; phase++)
            {
                float* dst = Row(buffer, r, phase);
                // j·s + φ − p ∈ [0, W)  ⇔  j ∈ [⌈(p − φ)/s⌉, ⌈(W + p − φ)/s⌉).
                int lo = Math.Clamp(DepthwiseBlocking.CeilDiv(Pad - phase, Phases), 0, RowLength);
                int hi = Math.Clamp(DepthwiseBlocking.CeilDiv(Width + Pad - phase, Phases), lo, RowLength);
                if (Phases == 1)
                {
                    Copy(src + lo - Pad, dst + lo, hi - lo);
                }
                else
                {
                    float* s = src + (lo * Phases + phase - Pad);
                    for (int j = lo; j < hi; j++, s += Phases)
                    {
                        dst[j] = *s;
                    }
                }
            }
        }
    }

    /// <summary>A short copy without a call (rows here are tens of floats; Memmove's call and dispatch cost as much as the copy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Copy(float* src, float* dst, int count)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= count; i += 8)
            {
                Vector256.Store(Vector256.Load(src + i), dst + i);
            }
            if (count >= 8 && i < count)
            {
                // The last whole vector, overlapping what is already copied: same values, no tail loop.
                Vector256.Store(Vector256.Load(src + count - 8), dst + count - 8);
                return;
            }
        }
        for (; i < count; i++)
        {
            dst[i] = src[i];
        }
    }

    /// <summary>
    /// Stride 2: both phases at once, vectorised where 2j − p and 2j + 1 − p both lie inside the row; at most one
    /// position before (j &lt; lo) and one after (j = hi) can have one phase inside and one outside. Beyond those
    /// both phases read padding, which <see cref="Clear"/> left zero.
    /// </summary>
    private void FillStride2<TMath>(float* src, float* even, float* odd)
        where TMath : struct, IRowMath
    {
        int lo = Math.Clamp((Pad + 1) / 2, 0, RowLength);
        int hi = Math.Clamp((Width + Pad) / 2, lo, RowLength);
        for (int j = Math.Max(0, lo - 1); j < lo; j++)
        {
            even[j] = At(src, 2 * j - Pad);
            odd[j] = At(src, 2 * j + 1 - Pad);
        }
        TMath.Deinterleave2(src + (2 * lo - Pad), even + lo, odd + lo, hi - lo);
        for (int j = hi; j < Math.Min(hi + 1, RowLength); j++)
        {
            even[j] = At(src, 2 * j - Pad);
            odd[j] = At(src, 2 * j + 1 - Pad);
        }
    }

    private float At(float* src, int i) => (uint)i < (uint)Width ? src[i] : 0f;
}

/// <summary>
/// One output-gradient plane <c>dy[P_d, P_h, P_w]</c> with <see cref="Left"/> zeros before and zeros after each row,
/// so the backward-data taps <c>dy[t + off]</c> with negative or overlong offsets read zeros instead of testing bounds.
/// </summary>
internal readonly unsafe struct PaddedGradientRows
{
    public readonly int Left, RowLength, Rows, Width;

    public PaddedGradientRows(ConvProblem p, int left, int maxRead)
    {
        Left = left;
        Width = p.Out[2];
        Rows = p.Out[0] * p.Out[1];
        RowLength = DepthwiseBlocking.RoundUp(left + Math.Max(Width, maxRead), DepthwiseBlocking.RowGranule);
    }

    /// <summary>Floats of one padded plane.</summary>
    public long Floats => (long)Rows * RowLength;

    /// <summary>Element 0 of row <paramref name="row"/> (= oz·P_h + oy); readable from <c>-Left</c>.</summary>
    public float* Row(float* buffer, int row) => buffer + (long)row * RowLength + Left;

    /// <summary>Zeroes a whole buffer once per call; <see cref="Fill"/> then writes only the rows' interiors, so the padding stays zero.</summary>
    public void Clear(float* buffer) => NativeMemory.Clear(buffer, (nuint)Floats * sizeof(float));

    /// <summary>Copies the plane <paramref name="dy"/> into the interiors of a buffer that <see cref="Clear"/> has zeroed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Fill(float* dy, float* buffer)
    {
        for (int r = 0; r < Rows; r++)
        {
            PhasedInputRows.Copy(dy + (long)r * Width, buffer + (long)r * RowLength + Left, Width);
        }
    }
}
