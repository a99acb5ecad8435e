using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>
/// Depthwise backward-data (multiplier 1, 1-D or 2-D) on blocks of eight channels, by stride phases:
/// <c>dx[n, c, ρ + t·s] = Σ_{r ∈ T(ρ)} dy[n, c, t + (ρ + p − r·d)/s] · w[c, 0, r]</c> per axis, with
/// <c>T(ρ) = {r : (ρ + p − r·d) mod s = 0}</c>, and the eight channels c0 .. c0+7 in the eight lanes of a vector.
/// </summary>
/// <remarks>
/// A unit is (image, 8-channel block). The eight dY planes are staged pixel-major in a block padded with zeros wide
/// enough for every tap offset, so out-of-range dY reads are zeros and need no test. Each dX row ρ_h + t_h·s_h is
/// assembled pixel-major from its width phases: phase ρ_w computes the pixels ρ_w + t_w·s_w as a stride-1 correlation
/// over t_w with only the taps that reach it (eight pixels per weight load), and writes each pixel's vector in place;
/// then the row is transposed back into the eight channels' dX rows. No zero-inserted dY is built, no tap multiplies a
/// structural zero, and pixels no tap reaches (empty phases) come out as exact zeros. Every dX element is written by
/// one unit, so the result does not depend on the thread count.
/// </remarks>
internal sealed unsafe class DepthwiseBackwardDataChannelBlocked : IPartitionedWork
{
    private const int Lanes = ChannelBlocks.Lanes;

    private readonly ConvProblem _p;
    private readonly float* _dy, _w, _dx;
    private readonly int _blocks;
    private readonly Axis _h, _wAxis;

    public DepthwiseBackwardDataChannelBlocked(ConvProblem p, float* dy, float* w, float* dx)
    {
        _p = p;
        _dy = dy;
        _w = w;
        _dx = dx;
        _blocks = ChannelBlocks.Count(p.C);
        _h = new Axis(p, 1);
        _wAxis = new Axis(p, 2);
    }

    /// <summary>
    /// The same conditions as the channel-blocked forward, with the staged dY block bounded as well, and a stride above 1:
    /// at stride 1 the per-channel row kernel (one phase, contiguous rows) measured faster (dw3x3-28 dX 0.81 against
    /// 1.05-1.35 ms), while at stride 2 this kernel is (dw3x3s2-56 dX 2.1-2.3 → 1.2-1.4 ms), because the per-channel
    /// phase rows are short and must be interleaved back, whereas here a phase writes its pixels' vectors in place.
    /// </summary>
    public static bool Applies(ConvProblem p) =>
        DepthwiseForwardChannelBlocked.Applies(p) && (p.Stride[1] > 1 || p.Stride[2] > 1)
        && StagedFloats(p) <= 1L << 21;

    /// <summary>Floats of the staged, padded dY block.</summary>
    private static long StagedFloats(ConvProblem p) => (long)Axis.Extent(p, 1).Padded * Axis.Extent(p, 2).Padded * Lanes;

    /// <summary>Scratch floats of one part: the padded dY block, one dX row of pixels, the weight vectors, a zero row.</summary>
    public static long WorkspaceFloats(ConvProblem p) =>
        StagedFloats(p) + (long)(p.In[2] + Lanes) * Lanes + (long)p.KerSpatial * Lanes + Math.Max(p.In[2], p.Out[2]) + Lanes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int part, int parts)
    {
        var p = _p;
        var (begin, end) = DepthwiseBlocking.Range(p.N * _blocks, part, parts);
        if (begin >= end)
        {
            return;
        }
        int cols = _wAxis.Padded, inW = p.In[2], inH = p.In[1], outW = p.Out[2], outH = p.Out[1], ks = p.KerSpatial, kw = p.Ker[2];
        long blockFloats = (long)_h.Padded * cols * Lanes;
        using var scratch = new NativeBuffer<float>(WorkspaceFloats(p));
        float* block = scratch.Pointer;
        float* rowOut = block + blockFloats;
        float* weights = rowOut + (long)(inW + Lanes) * Lanes;
        float* zeros = weights + (long)ks * Lanes;
        NativeMemory.Clear(block, (nuint)blockFloats * sizeof(float));
        NativeMemory.Clear(zeros, (nuint)(Math.Max(inW, outW) + Lanes) * sizeof(float));
        float** rows = stackalloc float*[Lanes];
        for (int unit = begin; unit < end; unit++)
        {
            int n = unit / _blocks, c0 = unit % _blocks * Lanes, count = Math.Min(Lanes, p.C - c0);
            ChannelBlocks.WeightVectors(_w, c0, count, ks, weights);
            // Stage dY: block[(oy + before_h)·cols + ox + before_w][j] = dy[n, c0 + j, oy, ox].
            ChannelBlocks.Stage(_dy + ((long)n * p.C + c0) * p.OutSpatial, p.OutSpatial, count, outH, outW, zeros, rows,
                block + ((long)_h.Before * cols + _wAxis.Before) * Lanes, (nint)cols * Lanes);
            float* image = _dx + ((long)n * p.C + c0) * p.InSpatial;
            for (int iy = 0; iy < inH; iy++)
            {
                int rhoH = iy % _h.Stride, th = iy / _h.Stride;
                for (int rhoW = 0; rhoW < _wAxis.Phases; rhoW++)
                {
                    PhaseRow(block, cols, weights, kw, rhoH, th, rhoW, rowOut);
                }
                ChannelBlocks.StoreRow(rowOut, image, p.InSpatial, count, iy, inW, rows);
            }
        }
    }

    /// <summary>The pixels ρ_w + t_w·s_w of one dX row (height phase ρ_h, index t_h), in blocks of 8, 4, 2, 1.</summary>
    private void PhaseRow(float* block, int cols, float* weights, int kw, int rhoH, int th, int rhoW, float* rowOut)
    {
        int pixels = _wAxis.Count(rhoW), t = 0;
        for (; t + 8 <= pixels; t += 8)
        {
            Pixels<Eight>(block, cols, weights, kw, rhoH, th, rhoW, t, rowOut);
        }
        if (t + 4 <= pixels)
        {
            Pixels<Four>(block, cols, weights, kw, rhoH, th, rhoW, t, rowOut);
            t += 4;
        }
        if (t + 2 <= pixels)
        {
            Pixels<Two>(block, cols, weights, kw, rhoH, th, rhoW, t, rowOut);
            t += 2;
        }
        if (t < pixels)
        {
            Pixels<One>(block, cols, weights, kw, rhoH, th, rhoW, t, rowOut);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pixels<TCount>(float* block, int cols, float* weights, int kw, int rhoH, int th, int rhoW, int t0, float* rowOut)
        where TCount : struct, ICount
    {
        int n = TCount.Value;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        var hTaps = _h.Taps(rhoH);
        var wTaps = _wAxis.Taps(rhoW);
        fixed (int* hr = hTaps, wr = wTaps)
        {
            for (int a = 0; a < hTaps.Length; a += 2)
            {
                float* row = block + ((nint)(th + hr[a + 1] + _h.Before) * cols + _wAxis.Before + t0) * Lanes;
                float* wRow = weights + (nint)hr[a] * kw * Lanes;
                for (int b = 0; b < wTaps.Length; b += 2)
                {
                    var wv = Avx.LoadVector256(wRow + wr[b] * Lanes);
                    float* s = row + (nint)wr[b + 1] * Lanes;
                    a0 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s), a0);
                    if (n > 1) a1 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + Lanes), a1);
                    if (n > 2) a2 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 2 * Lanes), a2);
                    if (n > 3) a3 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 3 * Lanes), a3);
                    if (n > 4) a4 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 4 * Lanes), a4);
                    if (n > 5) a5 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 5 * Lanes), a5);
                    if (n > 6) a6 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 6 * Lanes), a6);
                    if (n > 7) a7 = Fma.MultiplyAdd(wv, Avx.LoadVector256(s + 7 * Lanes), a7);
                }
            }
        }
        nint step = (nint)_wAxis.Stride * Lanes;
        float* o = rowOut + ((nint)rhoW + (nint)t0 * _wAxis.Stride) * Lanes;
        Avx.Store(o, a0);
        if (n > 1) Avx.Store(o + step, a1);
        if (n > 2) Avx.Store(o + 2 * step, a2);
        if (n > 3) Avx.Store(o + 3 * step, a3);
        if (n > 4) Avx.Store(o + 4 * step, a4);
        if (n > 5) Avx.Store(o + 5 * step, a5);
        if (n > 6) Avx.Store(o + 6 * step, a6);
        if (n > 7) Avx.Store(o + 7 * step, a7);
    }

    /// <summary>
    /// One spatial axis: for each phase ρ &lt; min(s, In), the taps that reach it as pairs (r, off) with
    /// off = (ρ + p − r·d)/s (the dY index is t + off), and the zero padding (Before, and the padded length) that
    /// keeps every t + off inside the staged block.
    /// </summary>
    private sealed class Axis
    {
        private readonly int[][] _taps;
        private readonly int _in;

        public Axis(ConvProblem p, int axis)
        {
            Stride = p.Stride[axis];
            _in = p.In[axis];
            Phases = Math.Min(Stride, _in);
            (Before, Padded) = Extent(p, axis);
            _taps = new int[Phases][];
            for (int rho = 0; rho < Phases; rho++)
            {
                var list = new List<int>();
                for (int r = 0; r < p.Ker[axis]; r++)
                {
                    if (Reaches(p, axis, rho, r, out int off))
                    {
                        list.Add(r);
                        list.Add(off);
                    }
                }
                _taps[rho] = [.. list];
            }
        }

        /// <summary>
        /// The zero padding before the staged dY and its padded length along the axis: every t + off of every phase
        /// (t &lt; its pixel count) and every dY index lies in [−Before, Padded − Before). Allocates nothing, so the
        /// dispatch can ask it on every call.
        /// </summary>
        public static (int Before, int Padded) Extent(ConvProblem p, int axis)
        {
            int s = p.Stride[axis], lo = 0, hi = p.Out[axis] - 1;
            for (int rho = 0; rho < Math.Min(s, p.In[axis]); rho++)
            {
                for (int r = 0; r < p.Ker[axis]; r++)
                {
                    if (Reaches(p, axis, rho, r, out int off))
                    {
                        lo = Math.Min(lo, off);
                        hi = Math.Max(hi, (p.In[axis] - rho + s - 1) / s - 1 + off);
                    }
                }
            }
            return (-lo, hi - lo + 1);
        }

        /// <summary>Whether kernel tap r reaches phase ρ, i.e. s divides ρ + p − r·d, and then off = (ρ + p − r·d)/s.</summary>
        private static bool Reaches(ConvProblem p, int axis, int rho, int r, out int off)
        {
            int v = rho + p.Pad[axis] - r * p.Dil[axis];
            off = v / p.Stride[axis];
            return v % p.Stride[axis] == 0;
        }

        public int Stride { get; }

        public int Phases { get; }

        public int Before { get; }

        public int Padded { get; }

        /// <summary>Pixels of phase ρ: i = ρ + t·s &lt; In.</summary>
        public int Count(int rho) => (_in - rho + Stride - 1) / Stride;

        /// <summary>(r, off) pairs of the taps reaching phase ρ.</summary>
        public int[] Taps(int rho) => _taps[rho];
    }
}
