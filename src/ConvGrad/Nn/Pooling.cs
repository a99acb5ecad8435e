using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>Window geometry shared by the 2-D pooling layers: <c>out = floor((in + 2·pad − k)/stride) + 1</c> (PyTorch, ceil_mode off).</summary>
internal readonly record struct PoolWindow(int Kernel, int Stride, int Padding)
{
    public static PoolWindow Create(int kernel, int? stride, int padding)
    {
        int s = stride ?? kernel;
        if (kernel < 1 || s < 1 || padding < 0 || 2 * padding > kernel)
        {
            throw new ArgumentException($"pooling needs kernel >= 1, stride >= 1 and 0 <= padding <= kernel/2; got kernel {kernel}, stride {s}, padding {padding}", nameof(kernel));
        }
        return new PoolWindow(kernel, s, padding);
    }

    public int Out(int input, string module)
    {
        int o = (input + 2 * Padding - Kernel) / Stride + 1;
        if (input + 2 * Padding < Kernel)
        {
            throw new ArgumentException($"{module}: kernel {Kernel} is larger than the padded input {input} + 2·{Padding}", "x");
        }
        return o;
    }
}

/// <summary>
/// 2-D max pooling (<c>nn.MaxPool2d</c>): <c>y[n,c,i,j] = max over the window x[n,c, i·s − p + a, j·s − p + b]</c>,
/// <c>0 ≤ a, b &lt; k</c>, padding never wins. Shapes: x <c>[N, C, H, W]</c>, y <c>[N, C, Ho, Wo]</c>.
/// </summary>
/// <remarks>
/// Gradient routing on ties: the whole <c>dy</c> of a window goes to the FIRST maximal element in row-major order
/// within the window (the lowest row, then the lowest column), the same element PyTorch's CPU kernel picks;
/// a NaN counts as the maximum. When windows overlap, an element collects the gradients of every window it wins.
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
public sealed class MaxPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PoolWindow _w;
    private Tensor<T>? _y, _dx;
    private int[] _argmax = [];
    private int[]? _inShape;

    /// <summary>Creates the layer; stride defaults to the kernel size.</summary>
    public MaxPool2d(int kernel, int? stride = null, int padding = 0) => _w = PoolWindow.Create(kernel, stride, padding);

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        CheckInput(x, 4, "MaxPool2d", "[N, C, H, W]");
        int planes = x.Dim(0) * x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        int ho = _w.Out(h, "MaxPool2d"), wo = _w.Out(w, "MaxPool2d");
        var y = Reuse(ref _y, [x.Dim(0), x.Dim(1), ho, wo], x);
        if (_argmax.Length != y.Length)
        {
            _argmax = new int[y.Length];
        }
        var xs = x.ReadOnlySpan;
        var ys = y.Span;
        int k = _w.Kernel, s = _w.Stride, p = _w.Padding;
        if (k == 2 && s == 2 && p == 0)
        {
            Forward2x2(xs, ys, planes, h, w, ho, wo);
            _inShape = x.Shape.ToArray();
            return y;
        }
        for (int pl = 0; pl < planes; pl++)
        {
            var plane = xs.Slice(pl * h * w, h * w);
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    int best = r0 * w + c0;
                    T m = plane[best];
                    for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                    {
                        T v = plane[r * w + c];
                        if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                        {
                            m = v;
                            best = r * w + c;
                        }
                    }
                    int o = (pl * ho + i) * wo + j;
                    ys[o] = m;
                    _argmax[o] = pl * h * w + best;
                }
            }
        }
        _inShape = x.Shape.ToArray();
        return y;
    }

    /// <summary>The common 2×2, stride 2, unpadded case: the same scan order and tie rule without window clipping.</summary>
    private void Forward2x2(ReadOnlySpan<T> xs, Span<T> ys, int planes, int h, int w, int ho, int wo)
    {
        var arg = _argmax.AsSpan();
        for (int pl = 0; pl < planes; pl++)
        {
            int basePl = pl * h * w;
            for (int i = 0; i < ho; i++)
            {
                int top = basePl + 2 * i * w;
                var row0 = xs.Slice(top, w);
                var row1 = xs.Slice(top + w, w);
                int o = (pl * ho + i) * wo;
                for (int j = 0; j < wo; j++)
                {
                    int c = 2 * j;
                    T m = row0[c];
                    int best = top + c;
                    T v = row0[c + 1];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + c + 1;
                    }
                    v = row1[c];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + w + c;
                    }
                    v = row1[c + 1];
                    if (v > m || (T.IsNaN(v) && !T.IsNaN(m)))
                    {
                        m = v;
                        best = top + w + c + 1;
                    }
                    ys[o + j] = m;
                    arg[o + j] = best;
                }
            }
        }
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var shape = _inShape ?? throw new InvalidOperationException("MaxPool2d.Backward called before Forward");
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, shape, dy);
        var g = dx.Span;
        g.Clear();
        var d = dy.ReadOnlySpan;
        for (int o = 0; o < d.Length; o++)
        {
            g[_argmax[o]] += d[o];
        }
        return dx;
    }
}

/// <summary>
/// 2-D average pooling (<c>nn.AvgPool2d</c>, count_include_pad on): <c>y = (1/k²)·Σ_window x</c>, padding counted as zeros.
/// Shapes: x <c>[N, C, H, W]</c>, y <c>[N, C, Ho, Wo]</c>. Backward: each <c>dy/k²</c> is spread over its window.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class AvgPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PoolWindow _w;
    private Tensor<T>? _y, _dx;
    private int[]? _inShape;

    /// <summary>Creates the layer; stride defaults to the kernel size.</summary>
    public AvgPool2d(int kernel, int? stride = null, int padding = 0) => _w = PoolWindow.Create(kernel, stride, padding);

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        CheckInput(x, 4, "AvgPool2d", "[N, C, H, W]");
        int planes = x.Dim(0) * x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        int ho = _w.Out(h, "AvgPool2d"), wo = _w.Out(w, "AvgPool2d");
        var y = Reuse(ref _y, [x.Dim(0), x.Dim(1), ho, wo], x);
        var xs = x.ReadOnlySpan;
        var ys = y.Span;
        int k = _w.Kernel, s = _w.Stride, p = _w.Padding;
        T inv = T.One / T.CreateChecked(k * k);
        for (int pl = 0; pl < planes; pl++)
        {
            var plane = xs.Slice(pl * h * w, h * w);
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    T sum = T.Zero;
                    for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                    {
                        sum += plane[r * w + c];
                    }
                    ys[(pl * ho + i) * wo + j] = sum * inv;
                }
            }
        }
        _inShape = x.Shape.ToArray();
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var shape = _inShape ?? throw new InvalidOperationException("AvgPool2d.Backward called before Forward");
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, shape, dy);
        int planes = shape[0] * shape[1], h = shape[2], w = shape[3], ho = dy.Dim(2), wo = dy.Dim(3);
        int k = _w.Kernel, s = _w.Stride, p = _w.Padding;
        T inv = T.One / T.CreateChecked(k * k);
        var g = dx.Span;
        g.Clear();
        var d = dy.ReadOnlySpan;
        for (int pl = 0; pl < planes; pl++)
        {
            var plane = g.Slice(pl * h * w, h * w);
            for (int i = 0; i < ho; i++)
            {
                int r0 = Math.Max(i * s - p, 0), r1 = Math.Min(i * s - p + k, h);
                for (int j = 0; j < wo; j++)
                {
                    int c0 = Math.Max(j * s - p, 0), c1 = Math.Min(j * s - p + k, w);
                    T v = d[(pl * ho + i) * wo + j] * inv;
                    for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                    {
                        plane[r * w + c] += v;
                    }
                }
            }
        }
        return dx;
    }
}
