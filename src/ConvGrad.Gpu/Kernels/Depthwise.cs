using ILGPU;
using ILGPU.Runtime;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// Direct kernels for depthwise convolution (one input and one output channel per group: C = K = G), where a GEMM
/// would have a 1-wide reduction over channels and waste its tile. Channel c reads only x[:, c] and w[c].
/// </summary>
internal static class Depthwise
{
    /// <summary>Reduction threads per CTA of <see cref="BackwardWeight"/>.</summary>
    public const int ReduceThreads = 128;

    /// <summary>y[b, c, o] = bias[c] + Σ_r x[b, c, o·s + r·d − p] · w[c, r]; one thread per y element.</summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ConvDims d, SpecializedValue<Window> window, int hasBias)
    {
        var win = window.Value;
        int e = index;
        int bc = e / d.OutSpatial;
        int o = e - bc * d.OutSpatial;
        int c = bc % d.C;
        int plane = d.Out1 * d.Out2;
        int od = o / plane;
        int rem = o - od * plane;
        int oh = rem / d.Out2;
        int ow = rem - oh * d.Out2;
        int xBase = bc * d.InSpatial;
        int wBase = c * win.KerSpatial;
        float sum = 0f;
        for (int r0 = 0; r0 < win.Ker0; r0++)
        {
            int zi = od * win.Stride0 - d.Pad0 + r0 * win.Dil0;
            if ((uint)zi >= (uint)d.In0)
            {
                continue;
            }
            for (int r1 = 0; r1 < win.Ker1; r1++)
            {
                int yi = oh * win.Stride1 - d.Pad1 + r1 * win.Dil1;
                if ((uint)yi >= (uint)d.In1)
                {
                    continue;
                }
                for (int r2 = 0; r2 < win.Ker2; r2++)
                {
                    int xi = ow * win.Stride2 - d.Pad2 + r2 * win.Dil2;
                    if ((uint)xi < (uint)d.In2)
                    {
                        sum += x[xBase + (zi * d.In1 + yi) * d.In2 + xi] * w[wBase + (r0 * win.Ker1 + r1) * win.Ker2 + r2];
                    }
                }
            }
        }
        y[e] = hasBias != 0 ? sum + bias[c] : sum;
    }

    /// <summary>
    /// dx[b, c, i] = Σ_{r : (i + p − r·d) mod s = 0} dy[b, c, (i + p − r·d)/s] · w[c, r]; one thread per dx element,
    /// visiting only the taps of its own filter phase (no zero-inserted dy), each dx written once.
    /// </summary>
    public static void BackwardData(Index1D index, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx,
        ConvDims d, SpecializedValue<Window> window)
    {
        var win = window.Value;
        int e = index;
        int bc = e / d.InSpatial;
        int i = e - bc * d.InSpatial;
        int c = bc % d.C;
        int plane = d.In1 * d.In2;
        int i0 = i / plane;
        int rem = i - i0 * plane;
        int i1 = rem / d.In2;
        int i2 = rem - i1 * d.In2;
        int dyBase = bc * d.OutSpatial;
        int wBase = c * win.KerSpatial;
        float sum = 0f;
        for (int r0 = 0; r0 < win.Ker0; r0++)
        {
            int n0 = i0 + d.Pad0 - r0 * win.Dil0;
            int o0 = n0 / win.Stride0;
            if (n0 < 0 || o0 * win.Stride0 != n0 || o0 >= d.Out0)
            {
                continue;
            }
            for (int r1 = 0; r1 < win.Ker1; r1++)
            {
                int n1 = i1 + d.Pad1 - r1 * win.Dil1;
                int o1 = n1 / win.Stride1;
                if (n1 < 0 || o1 * win.Stride1 != n1 || o1 >= d.Out1)
                {
                    continue;
                }
                for (int r2 = 0; r2 < win.Ker2; r2++)
                {
                    int n2 = i2 + d.Pad2 - r2 * win.Dil2;
                    int o2 = n2 / win.Stride2;
                    if (n2 >= 0 && o2 * win.Stride2 == n2 && o2 < d.Out2)
                    {
                        sum += dy[dyBase + (o0 * d.Out1 + o1) * d.Out2 + o2] * w[wBase + (r0 * win.Ker1 + r1) * win.Ker2 + r2];
                    }
                }
            }
        }
        dx[e] = sum;
    }

    /// <summary>
    /// dw[c, r] = Σ_b Σ_o dy[b, c, o] · x[b, c, o·s + r·d − p]; one CTA of <see cref="ReduceThreads"/> threads per dw
    /// element: thread t sums the indices t, t + T, t + 2T, … in order, then a fixed shared-memory tree adds the
    /// thread sums. The summation order depends only on the shape. Grid (C·RST), group <see cref="ReduceThreads"/>.
    /// </summary>
    public static void BackwardWeight(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, ConvDims d, SpecializedValue<Window> window)
    {
        var win = window.Value;
        int ks = win.KerSpatial;
        int e = Grid.IdxX;
        int c = e / ks;
        int r = e - c * ks;
        int kerPlane = win.Ker1 * win.Ker2;
        int r0 = r / kerPlane;
        int rr = r - r0 * kerPlane;
        int r1 = rr / win.Ker2;
        int r2 = rr - r1 * win.Ker2;
        int tid = Group.IdxX;
        int total = d.N * d.OutSpatial;
        int plane = d.Out1 * d.Out2;
        float sum = 0f;
        for (int k = tid; k < total; k += ReduceThreads)
        {
            int b = k / d.OutSpatial;
            int o = k - b * d.OutSpatial;
            int od = o / plane;
            int rem = o - od * plane;
            int oh = rem / d.Out2;
            int ow = rem - oh * d.Out2;
            int zi = od * win.Stride0 - d.Pad0 + r0 * win.Dil0;
            int yi = oh * win.Stride1 - d.Pad1 + r1 * win.Dil1;
            int xi = ow * win.Stride2 - d.Pad2 + r2 * win.Dil2;
            if ((uint)zi < (uint)d.In0 && (uint)yi < (uint)d.In1 && (uint)xi < (uint)d.In2)
            {
                int bc = b * d.C + c;
                sum += dy[bc * d.OutSpatial + o] * x[bc * d.InSpatial + (zi * d.In1 + yi) * d.In2 + xi];
            }
        }
        var partial = SharedMemory.Allocate<float>(ReduceThreads);
        float total2 = Reductions.TreeSum(partial, tid, sum, ReduceThreads);
        if (tid == 0)
        {
            dw[e] = total2;
        }
    }
}

/// <summary>Fixed-order block reductions and small elementwise kernels.</summary>
internal static class Reductions
{
    /// <summary>
    /// Σ over the CTA of <paramref name="value"/> by a fixed binary tree in shared memory (pairs (t, t + half) for
    /// half = n/2, n/4, …, 1); the result is valid in every thread. <paramref name="n"/> is a power of two.
    /// </summary>
    public static float TreeSum(ArrayView<float> scratch, int tid, float value, int n)
    {
        scratch[tid] = value;
        Group.Barrier();
        for (int half = n / 2; half > 0; half /= 2)
        {
            if (tid < half)
            {
                scratch[tid] += scratch[tid + half];
            }
            Group.Barrier();
        }
        return scratch[0];
    }

    /// <summary>
    /// Bias gradient db[k] = Σ_b Σ_o dy[b, k, o]: one CTA of <see cref="Depthwise.ReduceThreads"/> threads per channel,
    /// thread sums in index order, then <see cref="TreeSum"/>. Grid (K), group <see cref="Depthwise.ReduceThreads"/>.
    /// </summary>
    public static void ChannelSum(ArrayView<float> dy, ArrayView<float> db, int n, int k, int spatial)
    {
        int ch = Grid.IdxX;
        int tid = Group.IdxX;
        int total = n * spatial;
        float sum = 0f;
        for (int i = tid; i < total; i += Depthwise.ReduceThreads)
        {
            int b = i / spatial;
            sum += dy[(b * k + ch) * spatial + i - b * spatial];
        }
        var partial = SharedMemory.Allocate<float>(Depthwise.ReduceThreads);
        float s = TreeSum(partial, tid, sum, Depthwise.ReduceThreads);
        if (tid == 0)
        {
            db[ch] = s;
        }
    }

    /// <summary>y[b, c, i] += bias[c] over y [N, C, spatial]; one thread per y element (the transposed forward's bias).</summary>
    public static void AddBias(Index1D index, ArrayView<float> y, ArrayView<float> bias, int channels, int spatial)
    {
        int e = index;
        y[e] += bias[e / spatial % channels];
    }
}
