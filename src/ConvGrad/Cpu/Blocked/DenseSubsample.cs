using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The dense panel of a strided 1×1 layer: <c>x'[n][cb][o] = x[n][cb][o·s]</c> per spatial axis. Gathered once, it makes
/// the layer's backward-weight the unit-stride 1×1 problem on (x', dY); and backward-data is that problem's dX' scattered
/// back, <c>dx[o·s] = dx'[o]</c> and exact zeros at every position no output samples. Both unit-stride passes flatten
/// their rows into one long row per image (oneDNN reduces strided 1×1 convolutions the same way). Only for 1×1 kernels
/// without padding before, whose sampled positions all lie inside the input; the panel holds every image's channel
/// blocks.
/// </summary>
internal sealed unsafe class DenseSubsample : IPartitionedWork
{
    private readonly BlockedGeometry _g;
    private float* _x, _panel;
    private bool _scatter;

    public DenseSubsample(BlockedGeometry g) => _g = g;

    /// <summary>Whether <paramref name="p"/> is a strided 1×1 layer whose outputs all read inside the input (not depthwise).</summary>
    public static bool Applies(ConvProblem p) =>
        p.KerSpatial == 1 && !p.UnitStride && !p.IsChannelwise &&
        p.Pad[0] == 0 && p.Pad[1] == 0 && p.Pad[2] == 0 &&
        (p.Out[0] - 1) * p.Stride[0] < p.In[0] && (p.Out[1] - 1) * p.Stride[1] < p.In[1] && (p.Out[2] - 1) * p.Stride[2] < p.In[2];

    /// <summary>The unit-stride 1×1 problem on the panel: the input is the output's size, the rest as in <paramref name="p"/>.</summary>
    public static ConvProblem Dense(ConvProblem p)
    {
        int[] ones = new int[p.Dims], zeros = new int[p.Dims];
        Array.Fill(ones, 1);
        int[] input = [.. p.OutputShape];
        input[1] = p.C;
        int[] weight = [.. p.WeightShape];
        return ConvProblem.ForConv(new ConvGeometry(ones, zeros, zeros, ones, p.Groups), input, weight);
    }

    /// <summary>Floats of the panel of <paramref name="g"/>'s problem.</summary>
    public static long PanelFloats(BlockedGeometry g) => (long)g.N * g.Cb * g.OutSpatial * g.B;

    /// <summary>Aims the next run: gather blocked <paramref name="x"/> into the panel, or scatter the panel into <paramref name="x"/>.</summary>
    public void Set(float* x, float* panel, bool scatter)
    {
        _x = x;
        _panel = panel;
        _scatter = scatter;
    }

    /// <summary>Gathers (or scatters) the (image, channel block) planes of part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    public void Run(int part, int parts)
    {
        if (_scatter)
        {
            Scatter(part, parts);
            return;
        }
        var g = _g;
        int b = g.B;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int ih = g.In[1], iw = g.In[2];
        int sd = g.S[0], sh = g.S[1], sw = g.S[2];
        long planes = (long)g.N * g.Cb;
        long begin = planes * part / parts, end = planes * (part + 1) / parts;
        nint inPlane = (nint)g.InSpatial * b, outPlane = (nint)g.OutSpatial * b;
        for (long plane = begin; plane < end; plane++)
        {
            float* src = _x + (nint)plane * inPlane;
            float* dst = _panel + (nint)plane * outPlane;
            for (int oz = 0; oz < od; oz++)
            for (int oy = 0; oy < oh; oy++)
            {
                float* s = src + ((nint)oz * sd * ih + (nint)oy * sh) * iw * b;
                nint step = (nint)sw * b;
                if (b == 16)
                {
                    for (int ox = 0; ox < ow; ox++, s += step, dst += 16)
                    {
                        Vector512.Store(Vector512.Load(s), dst);
                    }
                }
                else
                {
                    for (int ox = 0; ox < ow; ox++, s += step, dst += 8)
                    {
                        Vector256.Store(Vector256.Load(s), dst);
                    }
                }
            }
        }
    }

    /// <summary><c>dx[i] = dx'[i/s]</c> where every axis' <c>i</c> is a sampled position, else 0, for whole input rows.</summary>
    private void Scatter(int part, int parts)
    {
        var g = _g;
        int b = g.B;
        int od = g.Out[0], oh = g.Out[1], ow = g.Out[2];
        int id = g.In[0], ih = g.In[1], iw = g.In[2];
        int sd = g.S[0], sh = g.S[1], sw = g.S[2];
        long planes = (long)g.N * g.Cb;
        long begin = planes * part / parts, end = planes * (part + 1) / parts;
        nint inPlane = (nint)g.InSpatial * b, outPlane = (nint)g.OutSpatial * b;
        for (long plane = begin; plane < end; plane++)
        {
            float* dst = _x + (nint)plane * inPlane;
            float* src = _panel + (nint)plane * outPlane;
            for (int iz = 0; iz < id; iz++)
            for (int iy = 0; iy < ih; iy++, dst += (nint)iw * b)
            {
                bool sampled = iz % sd == 0 && iy % sh == 0 && iz / sd < od && iy / sh < oh;
                if (!sampled)
                {
                    new Span<float>(dst, iw * b).Clear();
                    continue;
                }
                // Walk the sampled columns (ix = ox·sw) and zero the sw − 1 columns after each, then the row's tail: no
                // division per column (an integer divide per vector had cost about as much as the whole dX' GEMM).
                float* s = src + ((nint)(iz / sd) * oh + iy / sh) * ow * b;
                float* d = dst;
                for (int ox = 0; ox < ow; ox++, s += b)
                {
                    int gap = Math.Min(sw, iw - ox * sw) - 1;
                    if (b == 16)
                    {
                        Vector512.Store(Vector512.Load(s), d);
                        d += 16;
                        for (int z = 0; z < gap; z++, d += 16)
                        {
                            Vector512.Store(Vector512<float>.Zero, d);
                        }
                    }
                    else
                    {
                        Vector256.Store(Vector256.Load(s), d);
                        d += 8;
                        for (int z = 0; z < gap; z++, d += 8)
                        {
                            Vector256.Store(Vector256<float>.Zero, d);
                        }
                    }
                }
                new Span<float>(d, (int)(dst + (nint)iw * b - d)).Clear();
            }
        }
    }
}
