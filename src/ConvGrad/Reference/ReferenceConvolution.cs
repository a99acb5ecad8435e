using System.Numerics;

namespace ConvGrad.Reference;

/// <summary>
/// The defining sums of cross-correlation and its gradients, written as literally as possible and
/// accumulated in float64. Every fast kernel is checked against these.
/// </summary>
/// <remarks>
/// Shapes (3 spatial axes; 1-D and 2-D problems have leading axes of size 1):
/// X <c>[N, C, D, H, W]</c>, W <c>[K, C/G, R_d, R_h, R_w]</c>, Y and dY <c>[N, K, P_d, P_h, P_w]</c>.
/// With <c>g = k / (K/G)</c> the group of output channel <c>k</c>, per axis <c>s</c> stride, <c>d</c> dilation,
/// <c>p</c> padding before:
/// <code>
///   y[n,k,o]  = b[k] + Σ_c' Σ_r x[n, g·C/G + c', o·s + r·d − p] · w[k,c',r]        (x = 0 outside [0,in))
///   dx[n,c,i] = Σ_k∈g Σ_r Σ_o [o·s + r·d − p = i] · dy[n,k,o] · w[k,c',r]
///   dw[k,c',r] = Σ_n Σ_o dy[n,k,o] · x[n, g·C/G + c', o·s + r·d − p]
///   db[k]     = Σ_n Σ_o dy[n,k,o]
/// </code>
/// Multi-axis problems apply the relation on every axis at once (o, r, i are index triples).
/// </remarks>
internal static class ReferenceConvolution
{
    /// <summary>y = x ⋆ w + b.</summary>
    public static void Forward<T>(ConvProblem p, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> b, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int n = 0; n < p.N; n++)
        for (int k = 0; k < p.K; k++)
        {
            int g = k / p.Kg;
            for (int oz = 0; oz < p.Out[0]; oz++)
            for (int oy = 0; oy < p.Out[1]; oy++)
            for (int ox = 0; ox < p.Out[2]; ox++)
            {
                double sum = b.IsEmpty ? 0.0 : double.CreateTruncating(b[k]);
                for (int c = 0; c < p.Cg; c++)
                for (int rz = 0; rz < p.Ker[0]; rz++)
                for (int ry = 0; ry < p.Ker[1]; ry++)
                for (int rx = 0; rx < p.Ker[2]; rx++)
                {
                    int iz = oz * p.Stride[0] + rz * p.Dil[0] - p.Pad[0];
                    int iy = oy * p.Stride[1] + ry * p.Dil[1] - p.Pad[1];
                    int ix = ox * p.Stride[2] + rx * p.Dil[2] - p.Pad[2];
                    if (Inside(p, iz, iy, ix))
                    {
                        sum += double.CreateTruncating(x[XIndex(p, n, g * p.Cg + c, iz, iy, ix)])
                             * double.CreateTruncating(w[WIndex(p, k, c, rz, ry, rx)]);
                    }
                }
                y[YIndex(p, n, k, oz, oy, ox)] = T.CreateTruncating(sum);
            }
        }
    }

    /// <summary>dx = ∂L/∂x: every input element gathers the dY·W terms whose window index lands on it.</summary>
    public static void BackwardData<T>(ConvProblem p, ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int n = 0; n < p.N; n++)
        for (int c = 0; c < p.C; c++)
        {
            int g = c / p.Cg, cg = c % p.Cg;
            for (int iz = 0; iz < p.In[0]; iz++)
            for (int iy = 0; iy < p.In[1]; iy++)
            for (int ix = 0; ix < p.In[2]; ix++)
            {
                double sum = 0.0;
                for (int kk = 0; kk < p.Kg; kk++)
                for (int rz = 0; rz < p.Ker[0]; rz++)
                for (int ry = 0; ry < p.Ker[1]; ry++)
                for (int rx = 0; rx < p.Ker[2]; rx++)
                {
                    // o·s + r·d − p = i  ⇔  o = (i + p − r·d) / s, which must be a whole number inside [0, out).
                    if (OutputIndex(iz, rz, p, 0, out int oz) && OutputIndex(iy, ry, p, 1, out int oy) && OutputIndex(ix, rx, p, 2, out int ox))
                    {
                        int k = g * p.Kg + kk;
                        sum += double.CreateTruncating(dy[YIndex(p, n, k, oz, oy, ox)])
                             * double.CreateTruncating(w[WIndex(p, k, cg, rz, ry, rx)]);
                    }
                }
                dx[XIndex(p, n, c, iz, iy, ix)] = T.CreateTruncating(sum);
            }
        }
    }

    /// <summary>dw = ∂L/∂w: the correlation of x with dY, summed over the batch.</summary>
    public static void BackwardWeight<T>(ConvProblem p, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dw)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < p.K; k++)
        {
            int g = k / p.Kg;
            for (int c = 0; c < p.Cg; c++)
            for (int rz = 0; rz < p.Ker[0]; rz++)
            for (int ry = 0; ry < p.Ker[1]; ry++)
            for (int rx = 0; rx < p.Ker[2]; rx++)
            {
                double sum = 0.0;
                for (int n = 0; n < p.N; n++)
                for (int oz = 0; oz < p.Out[0]; oz++)
                for (int oy = 0; oy < p.Out[1]; oy++)
                for (int ox = 0; ox < p.Out[2]; ox++)
                {
                    int iz = oz * p.Stride[0] + rz * p.Dil[0] - p.Pad[0];
                    int iy = oy * p.Stride[1] + ry * p.Dil[1] - p.Pad[1];
                    int ix = ox * p.Stride[2] + rx * p.Dil[2] - p.Pad[2];
                    if (Inside(p, iz, iy, ix))
                    {
                        sum += double.CreateTruncating(dy[YIndex(p, n, k, oz, oy, ox)])
                             * double.CreateTruncating(x[XIndex(p, n, g * p.Cg + c, iz, iy, ix)]);
                    }
                }
                dw[WIndex(p, k, c, rz, ry, rx)] = T.CreateTruncating(sum);
            }
        }
    }

    /// <summary>db[k] = Σ over batch and output positions of dy[n, k, ·].</summary>
    public static void BackwardBias<T>(int n, int k, int spatial, ReadOnlySpan<T> dy, Span<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int kk = 0; kk < k; kk++)
        {
            double sum = 0.0;
            for (int nn = 0; nn < n; nn++)
            {
                foreach (T v in dy.Slice(((nn * k) + kk) * spatial, spatial))
                {
                    sum += double.CreateTruncating(v);
                }
            }
            db[kk] = T.CreateTruncating(sum);
        }
    }

    private static bool OutputIndex(int i, int r, ConvProblem p, int axis, out int o)
    {
        int t = i + p.Pad[axis] - r * p.Dil[axis];
        o = t / p.Stride[axis];
        return t >= 0 && t % p.Stride[axis] == 0 && o < p.Out[axis];
    }

    private static bool Inside(ConvProblem p, int iz, int iy, int ix) =>
        (uint)iz < (uint)p.In[0] && (uint)iy < (uint)p.In[1] && (uint)ix < (uint)p.In[2];

    private static int XIndex(ConvProblem p, int n, int c, int z, int y, int x) =>
        (((n * p.C + c) * p.In[0] + z) * p.In[1] + y) * p.In[2] + x;

    private static int YIndex(ConvProblem p, int n, int k, int z, int y, int x) =>
        (((n * p.K + k) * p.Out[0] + z) * p.Out[1] + y) * p.Out[2] + x;

    private static int WIndex(ConvProblem p, int k, int c, int z, int y, int x) =>
        (((k * p.Cg + c) * p.Ker[0] + z) * p.Ker[1] + y) * p.Ker[2] + x;
}
